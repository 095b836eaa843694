"""minibert.weights: the safetensors reader checks every header entry before reading, and a
sharded index names only files beside it. The reference for what a valid file is: the
safetensors library, which refuses each of the damaged files below too."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from minibert.weights import CheckpointError, read_safetensors, shard_files

safetensors_torch = pytest.importorskip("safetensors.torch")


def write_raw(path, header: dict, data: bytes) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def two_tensors() -> tuple[dict, bytes]:
    a, b = torch.arange(6, dtype=torch.float32), torch.arange(4, dtype=torch.float32) + 10
    header = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "F32", "shape": [4], "data_offsets": [24, 40]}}
    return header, a.numpy().tobytes() + b.numpy().tobytes()


def test_a_well_formed_file_reads_back(tmp_path):
    header, data = two_tensors()
    write_raw(tmp_path / "ok.safetensors", header, data)
    tensors = read_safetensors(tmp_path / "ok.safetensors")
    assert tensors["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and tensors["b"].tolist() == [10, 11, 12, 13]


DAMAGED = {
    "overlapping": ({"b": {"data_offsets": [20, 36]}}, "'b' starts at byte 20 and overlaps 'a'"),
    "a gap": ({"b": {"data_offsets": [28, 44]}}, "'b' takes bytes 28..44|past the 40 bytes"),
    "past the end": ({"b": {"shape": [5], "data_offsets": [24, 44]}}, "'b' ends at byte 44, past the 40 bytes of data"),
    "size not shape x itemsize": ({"b": {"data_offsets": [24, 36]}}, r"'b' takes bytes 24..36 \(12 bytes\) but its shape \(4,\) of F32 needs 16"),
    "into the header": ({"a": {"data_offsets": [-8, 16]}}, r"'a' has data_offsets \[-8, 16\], not \[begin, end\]"),
    "no data_offsets": ({"b": {"data_offsets": None}}, "'b' has data_offsets None"),
    "a negative dimension": ({"a": {"shape": [-2, 3]}}, r"'a' has shape \[-2, 3\], not a list of non-negative integers"),
    "an unknown dtype": ({"a": {"dtype": "Q7"}}, "'a' has unsupported dtype 'Q7'"),
    "unused trailing bytes": ({"b": {"shape": [3], "data_offsets": [24, 36]}}, "the tensors end at byte 36 but the file has 40 bytes"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_header_is_an_error_naming_the_tensor(tmp_path, case):
    header, data = two_tensors()
    change, message = DAMAGED[case]
    for name, fields in change.items():
        header[name].update(fields)
        if fields.get("data_offsets", 0) is None:
            del header[name]["data_offsets"]
    path = tmp_path / "bad.safetensors"
    write_raw(path, header, data)
    with pytest.raises(Exception):  # the reference refuses it too
        safetensors_torch.load_file(path)
    with pytest.raises(CheckpointError, match=message):
        read_safetensors(path)


@pytest.mark.parametrize("shard", ["../x.safetensors", "/etc/passwd", "sub/x.safetensors", "..", ""])
def test_shard_names_must_be_plain_file_names_beside_the_index(tmp_path, shard):
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": shard}}))
    with pytest.raises(CheckpointError, match="shard names must be plain file names in the same directory"):
        shard_files(index)
