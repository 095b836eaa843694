"""Opt-in int8 inference on the CPU: dynamic quantisation of the linear layers.

Nearly all of BERT's arithmetic is in its linear layers (W^Q, W^K, W^V, W^O and the
feed-forward, 12 x 7.1M of bert-base's 85M encoder weights). Dynamic quantisation stores each
such weight matrix as int8 with one float scale per matrix, W ~ scale_W * W_int8, and at run
time quantises each input batch the same way (x ~ scale_x * x_int8, the scale chosen from that
batch's own range: hence "dynamic"), multiplies in integers with int32 accumulation, and
scales the result back to float:

    y = x W^T + b  ~  scale_x * scale_W * (x_int8 W_int8^T) + b

Each weight row (output channel) gets its own scale, scale_W[j] = max_i |W[j, i]| / 127: a
single scale per matrix lets the few large rows flatten every other row onto a handful of
levels (on all-MiniLM-L6-v2 that cost 0.04 of cosine similarity; benchmarks/README.md).
Activations use all 256 levels where the CPU has VNNI instructions (int32 accumulation);
without them the kernels must keep 7 bits (`reduce_range`), or the int16 pair sums of
VPMADDUBSW could saturate.

Embeddings, LayerNorm, softmax and the tied MLM decoder stay float32. The kernels are
PyTorch's own (`torch.ops.quantized.linear_prepack` / `linear_dynamic`, the ones behind
`torch.ao.quantization.quantize_dynamic`, fbgemm / oneDNN on x86): CPU only, inference only
(no gradients through int8 weights). `quantize_dynamic` itself always passes reduce_range=True,
whatever the CPU, hence this small module. torch 2.13 marks PyTorch's quantized tensors as
deprecated in favour of torchao; torchao 0.18 installs beside torch 2.13, but the project's
environment does not carry it, and its CPU path is not measured against this one yet.

What it costs in accuracy and gains in speed is measured by benchmarks/bench_quantize.py.
A quantized model is for inference: `save_pretrained` refuses it, so saved models stay float32.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

QUANTIZE_CHOICES = ("int8",)


def check_quantize(quantize: str | None) -> None:
    if quantize is not None and quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize={quantize!r} is not supported; choose one of {QUANTIZE_CHOICES} (or None for float32)")


def cpu_has_vnni() -> bool:
    """Whether the CPU multiplies u8 x s8 with int32 accumulation (AVX512-VNNI or AVX-VNNI)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


class Int8Linear(nn.Module):
    """y = x W^T + b with W stored as int8, one scale per output row, and x quantized to 8 bits
    per call from its own range (dynamic quantisation)."""

    def __init__(self, linear: nn.Linear, reduce_range: bool):
        super().__init__()
        self.in_features, self.out_features, self.reduce_range = linear.in_features, linear.out_features, reduce_range
        weight = linear.weight.detach()  # (out, in)
        scale = (weight.abs().amax(dim=1) / 127).clamp(min=1e-12).double()  # (out,): symmetric, zero point 0
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*deprecated.*")  # see the module docstring
            q_weight = torch.quantize_per_channel(weight, scale, torch.zeros_like(scale, dtype=torch.long), 0, torch.qint8)
        bias = linear.bias.detach() if linear.bias is not None else None
        self.packed = torch.ops.quantized.linear_prepack(q_weight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x, self.packed, self.reduce_range)  # (..., out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, reduce_range={self.reduce_range}"


def quantize_linear_layers(model: nn.Module) -> int:
    """Replace every nn.Linear of `model`, in place, by an Int8Linear. Returns how many were
    replaced. The model must be float32 and on the CPU."""
    devices = {p.device.type for p in model.parameters()}
    if devices != {"cpu"}:
        raise ValueError(
            f"int8 quantization runs on the CPU only, but the model is on {', '.join(sorted(devices))}; "
            "load it with device='cpu' (on a GPU, use dtype=torch.bfloat16 instead)"
        )
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if dtypes != {torch.float32}:
        raise ValueError(f"int8 quantization starts from float32 weights, but the model has {sorted(map(str, dtypes))}; "
                         "load it with dtype=torch.float32")
    reduce_range = not cpu_has_vnni()
    targets = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
               if type(child) is nn.Linear]
    for parent, name, child in targets:
        setattr(parent, name, Int8Linear(child, reduce_range))
    return len(targets)
