"""PreTrainedBert: `from_pretrained` / `save_pretrained` for BertModel and every task head.

Loading, step by step:
1. find `config.json` and the weights (a local directory or a Hub id, minibert.hub);
2. build the model on the `meta` device, which allocates nothing;
3. read the checkpoint memory-mapped and rename its keys to minibert's (minibert.weights);
4. hand those tensors to the model as they are (`load_state_dict(assign=True)`), so the
   weights sit in RAM once; only weights the checkpoint lacks (a new task head) are
   allocated and initialised, and they are reported by name;
5. cast to the requested dtype, move to the requested device, switch to eval mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from minibert import validation, weights
from minibert.config import BertConfig
from minibert.hub import ModelNotFoundError, is_local, resolve_file
from minibert.quantization import check_quantize, quantize_linear_layers

_HUB_OPTIONS = ("cache_dir", "revision", "token", "local_files_only")


# The classes a pre-trained (not fine-tuned) checkpoint is saved from.
PRETRAINED_CLASSES = ("BertModel", "BertForPreTraining")


@dataclass
class LoadingInfo:
    """What `from_pretrained` did with each key: shown by `minibert info`, kept on the model."""

    checkpoint_files: list[str] = field(default_factory=list)
    loaded_keys: list[str] = field(default_factory=list)  # minibert names
    initialized_keys: list[str] = field(default_factory=list)  # not in the checkpoint: new weights
    unexpected_keys: list[str] = field(default_factory=list)  # checkpoint names nothing used
    checkpoint_dtype: torch.dtype | None = None
    checkpoint_class: str | None = None  # config.json's "architectures", when it names another class


@contextlib.contextmanager
def _on_meta_without_init() -> Iterator[None]:
    """Build a model on the meta device (nothing allocated), skipping the random init that
    the checkpoint overwrites anyway. Skipping it matters: on meta tensors `normal_` runs a
    Python reference implementation that imports torch._dynamo the first time, which cost
    about 2-3 s and 75 MB of resident memory per process (benchmarks/bench_loading.py)."""
    normal = nn.init.normal_
    nn.init.normal_ = lambda tensor, *args, **kwargs: tensor
    try:
        with torch.device("meta"):
            yield
    finally:
        nn.init.normal_ = normal


class PreTrainedBert(nn.Module):
    """Base class: a config, weight initialisation, and the loading/saving round trip."""

    # "" for BertModel; "bert." for models that hold a BertModel as `self.bert`.
    backbone_prefix = ""
    # Checkpoint keys a class reads from elsewhere (a decoder tied to the word embeddings).
    tied_checkpoint_keys: tuple[str, ...] = ()

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"expected a minibert.BertConfig, got {type(config).__name__}")
        self.config = config
        self.loading_info: LoadingInfo | None = None
        self.quantized: str | None = None  # "int8" after quantize("int8")

    # ---- initialisation ---------------------------------------------------------------

    def init_weights(self) -> None:
        for module in self.modules():
            self._init_module(module)
        self.tie_weights()

    def _init_module(self, module: nn.Module) -> None:
        """BERT's initialisation: N(0, initializer_range) weights, zero biases, LayerNorm = identity."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif hasattr(module, "reset_parameters") and not list(module.children()):
            module.reset_parameters()

    def tie_weights(self) -> None:
        """Models whose output layer shares the word embeddings override this."""

    # ---- names ------------------------------------------------------------------------

    def checkpoint_key_map(self) -> dict[str, weights.CheckpointKeys]:
        """minibert parameter name -> checkpoint name(s). Heads add their own keys."""
        with_pooler = getattr(self, "pooler", None) is not None
        return weights.backbone_key_map(self.config, with_pooler=with_pooler)

    def _is_backbone_key(self, key: str) -> bool:
        # A checkpoint without these is not a BERT checkpoint for this config: an error, not a warning.
        return key.startswith((self.backbone_prefix + "embeddings.", self.backbone_prefix + "encoder."))

    # ---- loading ----------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        config: BertConfig | None = None,
        dtype: torch.dtype | str | None = None,
        torch_dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        attn_implementation: str | None = None,
        ignore_mismatched_sizes: bool = False,
        quantize: str | None = None,
        **kwargs: Any,
    ):
        """Load a model from a directory written by `save_pretrained` (or by transformers), or
        from a Hub id such as "bert-base-uncased" through the Hugging Face cache.

        Keyword arguments that are config fields (`num_labels=3`, `hidden_dropout_prob=0.0`)
        override config.json; `cache_dir`, `revision`, `token`, `local_files_only` go to the Hub.
        `dtype` (or its older name `torch_dtype`): a torch dtype, its name, or "auto" for the
        checkpoint's own; float32 by default. `quantize="int8"`: quantize the linear layers for
        CPU inference once loaded (see `quantize`).
        """
        check_quantize(quantize)
        hub = {k: kwargs.pop(k) for k in _HUB_OPTIONS if k in kwargs}
        device = validation.check_device(device)
        if dtype is not None and torch_dtype is not None and dtype != torch_dtype:
            raise ValueError(f"dtype={dtype!r} and torch_dtype={torch_dtype!r} disagree; pass only dtype")
        dtype = dtype if dtype is not None else torch_dtype
        if attn_implementation is not None:
            kwargs["attn_implementation"] = attn_implementation
        _warn_unknown_keywords(kwargs, name_or_path, config)
        if config is None:
            config = BertConfig.from_json_file(resolve_file(name_or_path, "config.json", **hub), **kwargs)
        elif kwargs:
            config = BertConfig.from_dict({**config.to_dict(), "attn_implementation": config.attn_implementation}, **kwargs)

        files = _resolve_weight_files(name_or_path, hub)
        state: dict[str, torch.Tensor] = {}
        for path in files:
            state.update(weights.read_weights(path))

        _check_layer_count(config, state)
        with _on_meta_without_init():
            model = cls(config)
        info = model._load_checkpoint_state(state, ignore_mismatched_sizes)
        info.checkpoint_files = [str(p) for p in files]
        architectures = config.extra.get("architectures")
        if isinstance(architectures, list) and architectures and cls.__name__ not in architectures:
            info.checkpoint_class = str(architectures[0])
        # A pre-trained encoder (with or without its pre-training heads) is meant to start any
        # head, so that is only noted in loading_info; a checkpoint fine-tuned for a task and
        # loaded into another class loses or misreads its head, which is worth saying.
        if info.checkpoint_class is not None and info.checkpoint_class not in PRETRAINED_CLASSES:
            warnings.warn(
                f"{name_or_path} holds a {info.checkpoint_class} checkpoint (config.json's \"architectures\"); "
                f"it is loaded into {cls.__name__}",
                stacklevel=2,
            )

        target = _parse_dtype(dtype, info.checkpoint_dtype)
        model.to(dtype=target)
        if device is not None:
            model.to(device)
        model.eval()  # as transformers does: dropout off until the user calls model.train()
        if quantize is not None:
            model.quantize(quantize)
        return model

    def _load_checkpoint_state(self, state: dict[str, torch.Tensor], ignore_mismatched_sizes: bool) -> LoadingInfo:
        state = weights.normalize_checkpoint_keys(state, self.backbone_prefix)
        for key in self.tied_checkpoint_keys:
            state.pop(key, None)
        key_map = self.checkpoint_key_map()
        expected = {k: v.shape for k, v in self.state_dict().items()}
        mismatched: list[str] = []
        if ignore_mismatched_sizes:
            state, mismatched = _drop_mismatched(state, key_map, expected, self._is_backbone_key)
        ours, missing, unexpected = weights.from_checkpoint_state(state, key_map, expected)

        missing_backbone = [k for k in missing if self._is_backbone_key(k)]
        if missing_backbone:
            shown = ", ".join(_checkpoint_name(key_map[k]) for k in missing_backbone[:5])
            more = f" and {len(missing_backbone) - 5} more" if len(missing_backbone) > 5 else ""
            raise weights.CheckpointError(
                f"the checkpoint lacks {len(missing_backbone)} encoder weights: {shown}{more}. "
                "It is not a BERT checkpoint for this config.json."
            )

        unused_backbone = [k for k in unexpected if self._is_backbone_key(k)]
        if unused_backbone:
            shown = ", ".join(unused_backbone[:5])
            more = f" and {len(unused_backbone) - 5} more" if len(unused_backbone) > 5 else ""
            hint = ""
            if self.config.position_embedding_type != "absolute" and any("position_embeddings" in k for k in unused_backbone):
                hint = (f" config.json says position_embedding_type={self.config.position_embedding_type!r} "
                        "but the checkpoint has a learned position table.")
            raise weights.CheckpointError(
                f"the checkpoint has {len(unused_backbone)} encoder weights this config.json does not use: "
                f"{shown}{more}.{hint} Loading it would silently drop part of the model: make config.json "
                "describe the checkpoint."
            )

        self.load_state_dict(ours, strict=False, assign=True)
        initialized = self._materialize_missing()
        self.tie_weights()
        if initialized:
            warnings.warn(
                f"{type(self).__name__}: these weights are not in the checkpoint and were newly initialised: "
                f"{', '.join(initialized)}{' (shape mismatch: ' + ', '.join(mismatched) + ')' if mismatched else ''}. "
                "Train the model before using it for predictions.",
                stacklevel=3,
            )
        self.loading_info = LoadingInfo(
            loaded_keys=sorted(ours),
            initialized_keys=initialized,
            unexpected_keys=unexpected,
            checkpoint_dtype=weights.first_floating_dtype(ours.values()),
        )
        return self.loading_info

    def _materialize_missing(self) -> list[str]:
        """Allocate and initialise whatever is still on the meta device after loading."""
        initialized = []
        for name, module in self.named_modules():
            own = list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False))
            if not any(t.is_meta for _, t in own):
                continue
            loaded = {n: t for n, t in own if not t.is_meta}  # e.g. a weight whose bias is missing
            module.to_empty(device="cpu", recurse=False)
            self._init_module(module)
            with torch.no_grad():
                for n, t in loaded.items():
                    getattr(module, n).copy_(t)
            initialized += [f"{name}.{n}" if name else n for n, t in own if t.is_meta]
        persistent = self.state_dict().keys()
        return sorted(k for k in initialized if k in persistent)

    # ---- saving -----------------------------------------------------------------------

    def save_pretrained(
        self,
        directory: str | os.PathLike,
        *,
        safe_serialization: bool = True,
        max_shard_size: int | str | None = None,
        state_dict: dict[str, torch.Tensor] | None = None,
    ) -> Path:
        """Write `config.json` and `model.safetensors` (or shards plus an index, or
        `pytorch_model.bin` with `safe_serialization=False`) in the layout transformers reads.
        Each file is written to a temporary name and renamed, so nothing is left half-written.
        `state_dict`: the weights to write instead of the module's own, e.g. the full weights
        gathered from an FSDP-sharded model (minibert.distributed.full_state_dict).
        """
        if self.quantized is not None:
            raise ValueError(
                f"this model was quantized to {self.quantized} for inference; saved models stay float32: "
                "save it before quantize(), or load the saved float32 model again with quantize=..."
            )
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise NotADirectoryError(f"{directory} exists and is not a directory")
        if state_dict is not None and state_dict.keys() != self.state_dict().keys():
            differ = sorted(state_dict.keys() ^ self.state_dict().keys())
            raise ValueError(f"state_dict does not hold this model's weights: {len(differ)} names differ, e.g. {differ[0]}")
        directory.mkdir(parents=True, exist_ok=True)
        # Weight files of an earlier save (another layout, or more shards) would be loaded in
        # place of these ones: they go, but only once the new files are complete.
        previous = weights.weight_files_in(directory)
        own = self.state_dict() if state_dict is None else state_dict
        state = weights.to_checkpoint_state(own, self.checkpoint_key_map())
        if not safe_serialization:
            written = [weights.atomic_write_bytes(directory / weights.PT_WEIGHTS_NAME, lambda tmp: torch.save(
                {k: v.detach().clone() for k, v in state.items()}, tmp))]
        elif max_shard_size is not None:
            written = weights.write_sharded_safetensors(directory, state, weights.parse_size(max_shard_size))
        else:
            written = [weights.write_safetensors(directory / weights.WEIGHTS_NAME, state)]
        # config.json names the class that wrote it, so that readers of "architectures" (minibert
        # info, transformers' Auto classes) load a fine-tuned classifier as a classifier.
        config = dataclasses.replace(self.config, extra={**self.config.extra, "architectures": [type(self).__name__]})
        config.save_pretrained(directory)
        for path in previous - set(written):
            path.unlink(missing_ok=True)
        return directory

    # ---- inference ----------------------------------------------------------------------

    def quantize(self, dtype: str = "int8") -> "PreTrainedBert":
        """Quantize every linear layer to int8, in place, for CPU inference (minibert.quantization):
        smaller and faster on the CPU, at a small cost in accuracy. The model must be float32 on
        the CPU; it cannot be trained or saved afterwards. Returns the model."""
        check_quantize(dtype)
        if self.quantized is not None:
            raise ValueError(f"this model is already quantized to {self.quantized}")
        quantize_linear_layers(self)
        self.quantized = dtype
        return self.eval()

    # ---- conveniences -----------------------------------------------------------------

    def gradient_checkpointing_enable(self) -> None:
        """Recompute each encoder layer's activations in backward instead of storing them:
        less memory for longer sequences or bigger batches, at about one more forward's cost."""
        self._set_gradient_checkpointing(True)

    def gradient_checkpointing_disable(self) -> None:
        self._set_gradient_checkpointing(False)

    def _set_gradient_checkpointing(self, enabled: bool) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = enabled

    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(getattr(m, "gradient_checkpointing", False) for m in self.modules())

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(p.dtype for p in self.parameters() if p.is_floating_point())

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _resolve_weight_files(name_or_path, hub: dict) -> list[Path]:
    if is_local(name_or_path) and not _is_hub_snapshot(Path(name_or_path)):
        layouts = weights.layouts_in(Path(name_or_path))
        if len(layouts) > 1:
            raise weights.CheckpointError(
                f"{name_or_path} holds two weight layouts, {layouts[0]} and {layouts[1]}, which may be different "
                "models (one left by an earlier save); delete the one you do not mean to load"
            )
    for name in weights.WEIGHT_FILES:
        path = resolve_file(name_or_path, name, required=False, **hub)
        if path is None:
            continue
        if name.endswith(".index.json"):
            return [resolve_file(name_or_path, shard, **hub) for shard in weights.shard_files(path)]
        return [path]
    raise ModelNotFoundError(
        f"{name_or_path} has a config.json but no weights: expected one of {', '.join(weights.WEIGHT_FILES)}"
    )


_LOADING_OPTIONS = ("config", "dtype", "torch_dtype", "device", "attn_implementation", "ignore_mismatched_sizes", *_HUB_OPTIONS)


def _warn_unknown_keywords(kwargs: dict[str, Any], name_or_path, config: BertConfig | None) -> None:
    """A keyword that is neither a loading option nor a config field would only land in
    config.extra and change nothing: most likely a typo (`num_lables=3`), so say so."""
    import difflib
    import json

    fields = {f.name for f in dataclasses.fields(BertConfig)} - {"extra"} | {"num_labels"}
    if config is not None:
        known = set(config.extra)
    else:
        path = resolve_file(name_or_path, "config.json", required=False) if is_local(name_or_path) else None
        try:
            known = set(json.loads(path.read_text(encoding="utf-8"))) if path else set()
        except (OSError, ValueError, AttributeError):
            known = set()  # from_json_file reports a bad config.json
    for key in kwargs:
        if key not in fields and key not in known:
            close = difflib.get_close_matches(key, [*fields, *_LOADING_OPTIONS], n=1)
            warnings.warn(
                f"from_pretrained: {key}= is neither a loading option nor a BertConfig field, so it changes "
                f"nothing{f'; did you mean {close[0]}=?' if close else ''}",
                stacklevel=3,
            )


def _is_hub_snapshot(directory: Path) -> bool:
    """A snapshot in the Hugging Face cache (models--org--name/snapshots/<revision>): Hub
    repositories often carry the same weights in several layouts, and the first one is used."""
    parent = directory.absolute().parent
    return parent.name == "snapshots" and parent.parent.name.startswith("models--")


def _check_layer_count(config: BertConfig, state: dict[str, torch.Tensor]) -> None:
    """Before the model is built: a config.json that disagrees with the checkpoint about the
    number of layers would build the wrong model (or, with a huge number, exhaust memory)."""
    layers = weights.checkpoint_layer_count(state)
    if layers is not None and layers != config.num_hidden_layers:
        raise weights.CheckpointError(
            f"config.json says num_hidden_layers={config.num_hidden_layers} but the checkpoint has {layers} "
            "encoder layers: make config.json describe the checkpoint"
        )


def _parse_dtype(dtype: torch.dtype | str | None, checkpoint_dtype: torch.dtype | None) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if dtype == "auto":
        return checkpoint_dtype or torch.float32
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype.removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype (torch.float32, 'bfloat16', ...) or 'auto', got {dtype!r}")
    return dtype


def _checkpoint_name(keys: weights.CheckpointKeys) -> str:
    return keys[0] if isinstance(keys, tuple) else keys


def _drop_mismatched(state, key_map, expected, is_backbone) -> tuple[dict[str, torch.Tensor], list[str]]:
    """With ignore_mismatched_sizes=True, a head weight of another shape (another number of
    labels) is left out so that it gets freshly initialised; the backbone must still fit."""
    state = dict(state)
    dropped = []
    for ours, theirs in key_map.items():
        names = theirs if isinstance(theirs, tuple) else (theirs,)
        shape = expected[ours]
        part = (shape[0] // len(names), *shape[1:])
        for name in names:
            if name in state and tuple(state[name].shape) != tuple(part) and not is_backbone(ours):
                dropped.append(f"{name} {tuple(state.pop(name).shape)} -> {tuple(part)}")
    return state, dropped
