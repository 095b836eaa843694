"""Checkpoint files and checkpoint names.

Two jobs, kept apart from the model code:

1. Reading and writing the Hugging Face file formats: `model.safetensors` (memory-mapped,
   no second copy in RAM), sharded `model.safetensors.index.json`, and `pytorch_model.bin`
   (only through `torch.load(weights_only=True)`: a checkpoint is data, never code).
2. The explicit map between minibert's parameter names and the checkpoint names, including
   the legacy spellings of the original bert-base-uncased files (`LayerNorm.gamma/beta`,
   a `bert.` prefix, an `embeddings.position_ids` buffer). Every key is accounted for: a
   missing or misshapen weight fails loudly at load time, not silently at inference.
"""

from __future__ import annotations

import json
import mmap
import os
import pickle
import re
import struct
from pathlib import Path
from typing import Iterable, Mapping, Union

import torch

from minibert.config import BertConfig
from minibert.fileio import atomic_write_bytes, atomic_write_text  # noqa: F401  (also used from here)

# A minibert key maps to one checkpoint key, or to several concatenated along dim 0
# (the fused [W^Q; W^K; W^V] projection).
CheckpointKeys = Union[str, tuple[str, ...]]

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
PT_WEIGHTS_NAME = "pytorch_model.bin"
PT_WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
# In the order they are looked for.
WEIGHT_FILES = (WEIGHTS_NAME, WEIGHTS_INDEX_NAME, PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME)

# Keys some checkpoints carry that hold nothing to load: buffers transformers recomputes.
IGNORED_KEYS = re.compile(r"(^|\.)embeddings\.(position_ids|token_type_ids)$")


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model: missing backbone keys, wrong shapes, bad files."""


# ---------------------------------------------------------------------------------------
# Names: minibert <-> checkpoint
# ---------------------------------------------------------------------------------------


def backbone_key_map(config: BertConfig, with_pooler: bool = True, prefix: str = "") -> dict[str, CheckpointKeys]:
    """minibert name -> checkpoint name(s) for the encoder, as transformers names them."""
    names: dict[str, CheckpointKeys] = {}
    for p in ("weight", "bias"):
        names[f"embeddings.norm.{p}"] = f"embeddings.LayerNorm.{p}"
    names["embeddings.word_embeddings.weight"] = "embeddings.word_embeddings.weight"
    if config.position_embedding_type == "absolute":  # the sinusoidal table is computed, not stored
        names["embeddings.position_embeddings.weight"] = "embeddings.position_embeddings.weight"
    names["embeddings.token_type_embeddings.weight"] = "embeddings.token_type_embeddings.weight"
    for i in range(config.num_hidden_layers):
        ours, theirs = f"encoder.layers.{i}.", f"encoder.layer.{i}."
        for p in ("weight", "bias"):
            names[f"{ours}attention.qkv.{p}"] = tuple(f"{theirs}attention.self.{n}.{p}" for n in ("query", "key", "value"))
            names[f"{ours}attention.out.{p}"] = f"{theirs}attention.output.dense.{p}"
            names[f"{ours}attention_norm.{p}"] = f"{theirs}attention.output.LayerNorm.{p}"
            names[f"{ours}feed_forward.intermediate.{p}"] = f"{theirs}intermediate.dense.{p}"
            names[f"{ours}feed_forward.output.{p}"] = f"{theirs}output.dense.{p}"
            names[f"{ours}output_norm.{p}"] = f"{theirs}output.LayerNorm.{p}"
    if with_pooler:
        for p in ("weight", "bias"):
            names[f"pooler.dense.{p}"] = f"pooler.dense.{p}"
    return {prefix + k: _prefixed(prefix, v) for k, v in names.items()}


def _prefixed(prefix: str, keys: CheckpointKeys) -> CheckpointKeys:
    return tuple(prefix + k for k in keys) if isinstance(keys, tuple) else prefix + keys


def normalize_checkpoint_keys(state: Mapping[str, torch.Tensor], backbone_prefix: str) -> dict[str, torch.Tensor]:
    """Rename the legacy spellings and line the `bert.` prefix up with what the model expects.

    `backbone_prefix` is "" for BertModel and "bert." for a model with a task head. A base
    checkpoint (no prefix) loads into a head model and a head checkpoint into BertModel.
    """
    renamed = {}
    for key, tensor in state.items():
        key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
        key = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)
        renamed[key] = tensor
    backbone = ("embeddings.", "encoder.", "pooler.")
    has_prefix = any(k.startswith("bert.") for k in renamed)
    if backbone_prefix and not has_prefix:
        return {(backbone_prefix + k if k.startswith(backbone) else k): t for k, t in renamed.items()}
    if not backbone_prefix and has_prefix:
        return {k.removeprefix("bert."): t for k, t in renamed.items()}
    return renamed


def to_checkpoint_state(state: Mapping[str, torch.Tensor], key_map: Mapping[str, CheckpointKeys]) -> dict[str, torch.Tensor]:
    """minibert state dict -> checkpoint state dict (the fused projection split in three)."""
    out = {}
    for ours, theirs in key_map.items():
        tensor = state[ours]
        if isinstance(theirs, tuple):
            for name, part in zip(theirs, tensor.chunk(len(theirs), dim=0)):
                out[name] = part
        else:
            out[theirs] = tensor
    return out


def from_checkpoint_state(
    state: Mapping[str, torch.Tensor],
    key_map: Mapping[str, CheckpointKeys],
    expected_shapes: Mapping[str, torch.Size],
) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """checkpoint state dict -> (minibert state dict, missing minibert keys, unexpected checkpoint keys).

    A tensor whose shape differs from the model's is an error that names the key and both
    shapes. Tensors are used as they are (no copy), except the fused projection.
    """
    ours: dict[str, torch.Tensor] = {}
    missing, used = [], set()
    for key, names in key_map.items():
        parts = names if isinstance(names, tuple) else (names,)
        present = [n for n in parts if n in state]
        if not present:
            missing.append(key)
            continue
        if len(present) != len(parts):
            absent = [n for n in parts if n not in state]
            raise CheckpointError(f"the checkpoint has {present} but not {absent}; it is incomplete")
        for name in parts:
            if not state[name].is_floating_point():
                raise CheckpointError(
                    f"checkpoint key {name!r} holds {state[name].dtype} values; minibert loads floating-point weights "
                    "(float32, float16, bfloat16): dequantize the checkpoint to one of those first"
                )
        expected = expected_shapes[key]
        part_shape = (expected[0] // len(parts), *expected[1:])
        for name in parts:
            if tuple(state[name].shape) != tuple(part_shape):
                raise CheckpointError(
                    f"checkpoint key {name!r} has shape {tuple(state[name].shape)} but the model expects "
                    f"{tuple(part_shape)}: the checkpoint was made for another configuration (check config.json)"
                )
        ours[key] = torch.cat([state[n] for n in parts]) if len(parts) > 1 else state[parts[0]]
        used.update(parts)
    unexpected = sorted(k for k in state if k not in used and not IGNORED_KEYS.search(k))
    return ours, missing, unexpected


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------

_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Memory-map a .safetensors file: the tensors are views of the file's pages, so the
    weights take RAM once, as the OS pages them in, and never twice.

    The format: 8 bytes little-endian header length N, N bytes of JSON header
    {name: {dtype, shape, data_offsets: [begin, end]}}, then the raw data. Every entry is
    checked before anything is read (see `_check_entries`): a damaged or hand-made file is
    an error naming the tensor, never garbage weights.
    The map is copy-on-write: training may change the tensors, never the file.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path} is too short to be a safetensors file")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > size - 8 or header_len > 100_000_000:
            raise CheckpointError(f"{path} is not a safetensors file (header length {header_len}, file size {size})")
        try:
            header = json.loads(f.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CheckpointError(f"{path} is not a safetensors file (its header is not JSON)") from None
        if not isinstance(header, dict):
            raise CheckpointError(f"{path} is not a safetensors file (its header is not a JSON object)")
        header.pop("__metadata__", None)
        entries = _check_entries(path, header, data_size=size - 8 - header_len)
        buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if size > 0 else b""
    start = 8 + header_len
    tensors = {}
    for name, (dtype, shape, begin, numel) in entries.items():
        if numel == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(buffer, dtype=dtype, count=numel, offset=start + begin).view(shape)
    return tensors


def _check_entries(path: Path, header: dict, data_size: int) -> dict[str, tuple[torch.dtype, tuple[int, ...], int, int]]:
    """name -> (dtype, shape, begin, numel) for every tensor of a safetensors header, after
    checking what the format requires: a known dtype, a shape of non-negative integers,
    data_offsets [begin, end] relative to the end of the header with end - begin = the
    shape's size in bytes, and the entries, in order of their offsets, tiling the data
    exactly (from 0 to the end of the file: no gap, no overlap, nothing out of bounds)."""
    entries = {}
    spans = []
    for name, info in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(info, dict):
            raise CheckpointError(f"{where} has no dtype, shape and data_offsets; the file is damaged")
        dtype = _SAFETENSORS_DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise CheckpointError(f"{where} has unsupported dtype {info.get('dtype')!r}; expected one of {', '.join(_SAFETENSORS_DTYPES)}")
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise CheckpointError(f"{where} has shape {shape!r}, not a list of non-negative integers; the file is damaged")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
            raise CheckpointError(f"{where} has data_offsets {offsets!r}, not [begin, end] in bytes; the file is damaged")
        numel = 1
        for d in shape:
            numel *= d
        begin, end = offsets
        if end - begin != numel * dtype.itemsize:
            raise CheckpointError(
                f"{where} takes bytes {begin}..{end} ({end - begin} bytes) but its shape {tuple(shape)} of "
                f"{info['dtype']} needs {numel * dtype.itemsize}; the file is damaged"
            )
        if end > data_size:
            raise CheckpointError(f"{where} ends at byte {end}, past the {data_size} bytes of data in the file; the file is truncated or damaged")
        entries[name] = (dtype, tuple(shape), begin, numel)
        spans.append((begin, end, name))
    position, previous = 0, None
    for begin, end, name in sorted(spans):
        if begin != position:
            what = f"overlaps {previous!r}" if begin < position else f"leaves bytes {position}..{begin} unused"
            raise CheckpointError(f"{path}: tensor {name!r} starts at byte {begin} and {what}; the file is damaged")
        position, previous = end, name
    if position != data_size:
        raise CheckpointError(f"{path}: the tensors end at byte {position} but the file has {data_size} bytes of data; the file is damaged")
    return entries


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_pytorch_bin(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A pickled state dict, read with weights_only=True: tensors and plain containers only."""
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:
            # Files written before torch 1.6's zip format cannot be memory-mapped.
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path} holds Python objects besides tensors, which torch.load(weights_only=True) refuses to "
            "unpickle: loading them could run code. If you trust the file, convert it to safetensors once: "
            "python -c \"import torch; from safetensors.torch import save_file; "
            f"save_file(torch.load('{path}', weights_only=False), '{Path(path).with_name(WEIGHTS_NAME)}')\" "
            f"and remove {Path(path).name}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    return state


def layouts_in(directory: Path) -> list[str]:
    """The weight layouts a directory holds, named by their main file, in WEIGHT_FILES order."""
    return [name for name in WEIGHT_FILES if (directory / name).is_file()]


# Shards as transformers and minibert name them: model-00001-of-00003.safetensors.
_SHARD_NAME = re.compile(r"(model|pytorch_model)-\d{5}-of-\d{5}\.(safetensors|bin)")


def weight_files_in(directory: Path) -> set[Path]:
    """Every weight file and index in `directory`, of any layout: what a save replaces."""
    found = {directory / name for name in layouts_in(directory)}
    for index in (WEIGHTS_INDEX_NAME, PT_WEIGHTS_INDEX_NAME):
        if (directory / index).is_file():
            try:
                found.update(directory / shard for shard in shard_files(directory / index))
            except CheckpointError:
                pass  # a broken index is replaced all the same; its shards are found by name below
    found.update(p for p in directory.iterdir() if _SHARD_NAME.fullmatch(p.name))
    return {p for p in found if p.is_file()}


def checkpoint_layer_count(state: Mapping[str, torch.Tensor]) -> int | None:
    """How many encoder layers a checkpoint holds (the highest `encoder.layer.N.` + 1), or None."""
    indices = [int(m.group(1)) for k in state if (m := _LAYER_KEY.search(k))]
    return max(indices) + 1 if indices else None


_LAYER_KEY = re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.")


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = Path(path)
    return read_safetensors(path) if path.suffix == ".safetensors" else read_pytorch_bin(path)


def shard_files(index_path: str | os.PathLike) -> list[str]:
    """The shard file names listed by a `*.index.json`."""
    try:
        weight_map = json.loads(Path(index_path).read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CheckpointError(f"{index_path} is not a checkpoint index (no 'weight_map')") from None
    if not isinstance(weight_map, dict):
        raise CheckpointError(f"{index_path} is not a checkpoint index ('weight_map' is not an object)")
    names = sorted(set(weight_map.values()), key=str)
    for name in names:
        # The shards sit beside the index: a path elsewhere ("../x", "/etc/x") is never followed.
        if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name or Path(name).is_absolute():
            raise CheckpointError(
                f"{index_path} names the shard {name!r}; shard names must be plain file names in the same directory"
            )
    return names


def write_safetensors(path: str | os.PathLike, state: Mapping[str, torch.Tensor]) -> Path:
    from safetensors.torch import save_file

    # safetensors refuses tensors that share memory (the chunks of the fused projection do).
    tensors = {k: v.detach().contiguous().clone() if _shares_storage(v) else v.detach().contiguous() for k, v in state.items()}
    return atomic_write_bytes(path, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))


def _shares_storage(tensor: torch.Tensor) -> bool:
    return tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size()


def write_sharded_safetensors(directory: Path, state: Mapping[str, torch.Tensor], max_shard_bytes: int) -> list[Path]:
    """Split `state` into shards of at most `max_shard_bytes` (a tensor larger than that
    gets a shard of its own) plus the `model.safetensors.index.json` that lists them."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor
        size += nbytes
    total = sum(t.numel() * t.element_size() for t in state.values())
    weight_map, written = {}, []
    for i, shard in enumerate(shards, start=1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        written.append(write_safetensors(directory / name, shard))
        weight_map.update({key: name for key in shard})
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    written.append(atomic_write_text(directory / WEIGHTS_INDEX_NAME, json.dumps(index, indent=2) + "\n"))
    return written


def parse_size(size: int | str) -> int:
    """`5_000_000`, "5MB", "2GB", "500KiB" -> bytes."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B\s*", str(size), re.IGNORECASE)
    if not match:
        raise ValueError(f"cannot read {size!r} as a size; use bytes or a string like '500MB' or '2GB'")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** "BKMGT".index(unit.upper() or "B"))


def first_floating_dtype(tensors: Iterable[torch.Tensor]) -> torch.dtype | None:
    return next((t.dtype for t in tensors if t.is_floating_point()), None)
