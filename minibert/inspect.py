"""Look inside a model: layer-by-layer parity reports and parameter counts.

A parity report runs the same tokens through two models that should compute the same thing
(minibert and the `transformers` reference, or two minibert models) and compares them at
every step of the forward pass, in the order the data flows:

    embeddings -> layer 0 attention -> layer 0 output -> ... -> layer L-1 output -> pooler -> logits

"layer i attention" is the attention block's output, LayerNorm(x + MultiHeadAttention(x));
"layer i output" is the whole layer's, LayerNorm(x + FeedForward(...)). Activations are caught
with forward hooks, so the models run unchanged. Because every step consumes the one before,
the first row over the tolerance points at the module that is wrong; the load-level
diagnostics (config differences, weights that differ, keys the checkpoint lacked) usually
say why.

This module never imports `transformers`: a reference model is recognised by its layout
(`encoder.layer` where minibert has `encoder.layers`).
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

import torch
from torch import nn

# The config fields that change what a BERT computes; any difference between the two models is reported.
COMPARED_CONFIG_FIELDS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "pad_token_id", "position_embedding_type",
)

# The parity contract of tests/test_model_parity.py: fp32 1e-5 absolute; bf16 5e-2 absolute plus
# 2e-2 relative (8 significant bits, rounding differences add up over the layers).
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float32: (1e-5, 0.0),
    torch.float64: (1e-10, 0.0),
    torch.bfloat16: (5e-2, 2e-2),
    torch.float16: (1e-2, 1e-2),
}


def default_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """(atol, rtol) for comparing two models that run in `dtype`."""
    return TOLERANCES.get(dtype, (1e-5, 0.0))


# ---------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------


@dataclass
class ParityRow:
    """One step of the forward pass: how far apart the two models are there."""

    name: str  # "embeddings", "layer 3 attention", "pooler", "logits", ...
    shape: tuple[int, ...]
    max_abs: float
    mean_abs: float
    ok: bool  # |a - b| <= atol + rtol * |b| everywhere compared


@dataclass
class ParityReport:
    """What `parity_report` found. `rows` follow the forward pass; `first_failure` is the
    first row over the tolerance (None when all agree); the other fields are load-level
    diagnostics that explain a difference before any number is looked at."""

    model_name: str
    reference_name: str
    dtype: str
    atol: float
    rtol: float
    rows: list[ParityRow] = field(default_factory=list)
    config_differences: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    layer_norm_eps_differences: list[str] = field(default_factory=list)
    weight_differences: dict[str, float] = field(default_factory=dict)  # name -> max abs difference
    initialized_keys: dict[str, list[str]] = field(default_factory=dict)  # model -> keys not in the checkpoint
    unexpected_keys: dict[str, list[str]] = field(default_factory=dict)  # model -> checkpoint keys unused
    notes: list[str] = field(default_factory=list)

    @property
    def first_failure(self) -> ParityRow | None:
        return next((row for row in self.rows if not row.ok), None)

    @property
    def ok(self) -> bool:
        return self.first_failure is None

    def diagnostics(self) -> list[str]:
        """The load-level findings as sentences, most telling first."""
        lines = []
        for name, (a, b) in self.config_differences.items():
            lines.append(f"config differs: {name} = {a!r} in {self.model_name}, {b!r} in {self.reference_name}")
        lines += [f"LayerNorm eps differs: {line}" for line in self.layer_norm_eps_differences]
        if self.weight_differences:
            shown = sorted(self.weight_differences.items(), key=lambda kv: -kv[1])[:5]
            more = len(self.weight_differences) - len(shown)
            lines.append(
                (f"{len(self.weight_differences)} weights differ: " if len(self.weight_differences) > 1 else "1 weight differs: ")
                + ", ".join(f"{k} (max {v:.3g})" for k, v in shown)
                + (f" and {more} more" if more > 0 else "")
            )
        for who, keys in self.initialized_keys.items():
            if keys:
                lines.append(f"{who}: {len(keys)} weights not in the checkpoint, newly initialised: {_short_list(keys)}")
        for who, keys in self.unexpected_keys.items():
            if keys:
                lines.append(f"{who}: {len(keys)} checkpoint keys were not used: {_short_list(keys)}")
        return lines + self.notes

    def format_table(self) -> str:
        """A plain-text table, one row per step, the first row over the tolerance marked."""
        first = self.first_failure
        title = (
            f"parity: {self.model_name} vs {self.reference_name}, {self.dtype}, "
            f"tolerance |a-b| <= {self.atol:g}" + (f" + {self.rtol:g}*|b|" if self.rtol else "")
        )
        width = max([len("step")] + [len(r.name) for r in self.rows])
        lines = [title, f"{'step'.ljust(width)}  {'shape':<16}{'max |a-b|':>12}{'mean |a-b|':>12}  ok"]
        for row in self.rows:
            mark = "yes" if row.ok else "NO"
            if row is first:
                mark += "   <== first over tolerance"
            shape = "x".join(map(str, row.shape))
            lines.append(f"{row.name.ljust(width)}  {shape:<16}{row.max_abs:>12.3e}{row.mean_abs:>12.3e}  {mark}")
        if first is None:
            lines.append(f"all {len(self.rows)} steps within tolerance")
        else:
            lines.append(f"first difference over tolerance: {first.name} (max |a-b| = {first.max_abs:.3e})")
        lines += [f"- {line}" for line in self.diagnostics()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [dict(asdict(r), shape=list(r.shape)) for r in self.rows]
        data["config_differences"] = {k: list(v) for k, v in self.config_differences.items()}
        data["ok"] = self.ok
        data["first_failure"] = self.first_failure.name if self.first_failure else None
        data["diagnostics"] = self.diagnostics()
        return data

    def to_json(self) -> str:
        # Infinity/NaN (a model that blew up) become strings: strict JSON has no such numbers.
        return json.dumps(_finite(self.to_dict()), indent=2) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _short_list(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


# ---------------------------------------------------------------------------------------
# Catching the activations
# ---------------------------------------------------------------------------------------


def backbone(model: nn.Module) -> nn.Module:
    """The BertModel inside a model: itself, or `model.bert` for a model with a task head."""
    inner = getattr(model, "bert", model)
    if not hasattr(inner, "embeddings") or not hasattr(inner, "encoder"):
        raise TypeError(
            f"{type(model).__name__} is not a BERT model: expected `embeddings` and `encoder` "
            "(minibert.BertModel, a minibert head model, or their transformers counterparts)"
        )
    return inner


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    encoder = backbone(model).encoder
    layers = getattr(encoder, "layers", None)  # minibert
    if layers is None:
        layers = getattr(encoder, "layer", None)  # transformers
    if layers is None:
        raise TypeError(f"{type(model).__name__}.encoder has neither `layers` (minibert) nor `layer` (transformers)")
    return layers


def capture_points(model: nn.Module) -> dict[str, nn.Module]:
    """Step name -> the module whose output is that step's activation, for either library."""
    bert = backbone(model)
    points = {"embeddings": bert.embeddings}
    for i, layer in enumerate(encoder_layers(model)):
        # minibert: attention_norm = LayerNorm(x + attention); transformers: BertAttention returns the same.
        points[f"layer {i} attention"] = layer.attention_norm if hasattr(layer, "attention_norm") else layer.attention
        points[f"layer {i} output"] = layer
    if getattr(bert, "pooler", None) is not None:
        points["pooler"] = bert.pooler
    return points


@contextmanager
def capture_activations(model: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Within the block, every forward pass of `model` records each step's output (detached)."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in capture_points(model).items():
        def hook(_module, _inputs, output, name=name):
            # Some modules return (hidden, attention probs); the hidden state comes first.
            seen[name] = (output[0] if isinstance(output, (tuple, list)) else output).detach()

        handles.append(module.register_forward_hook(hook))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def run_and_capture(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """One forward pass in eval mode (dropout off; the model's mode is restored after),
    returning every step's activation plus each `*logits` output of a task head."""
    device = next(model.parameters()).device
    kwargs = {"attention_mask": attention_mask, "token_type_ids": token_type_ids}
    kwargs = {k: v.to(device) for k, v in kwargs.items() if v is not None}
    was_training = model.training
    model.eval()
    try:
        with capture_activations(model) as seen, torch.no_grad():
            out = model(input_ids.to(device), **kwargs)
    finally:
        model.train(was_training)
    for name in _logit_fields(out):
        seen[name] = getattr(out, name).detach()
    return dict(seen)


def _logit_fields(output: Any) -> list[str]:
    names = output.keys() if hasattr(output, "keys") else []
    return [n for n in names if n.endswith("logits") and isinstance(getattr(output, n, None), torch.Tensor)]


# ---------------------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------------------


def parity_report(
    model: nn.Module,
    reference: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    model_name: str = "minibert",
    reference_name: str | None = None,
    reference_loading_info: dict[str, list] | None = None,
) -> ParityReport:
    """Run the same tokens through `model` and `reference` and compare them step by step.

    input_ids: (B, S) token ids; attention_mask (1 = real token) and token_type_ids as for
    the models. Token-level activations are compared on real tokens only: padded positions
    carry no meaning. The tolerance is the project's parity contract for the models' dtype
    (fp32: 1e-5 absolute) unless `atol`/`rtol` are given. `reference_loading_info` is what
    `transformers`' `from_pretrained(..., output_loading_info=True)` returned, when known.
    """
    if not isinstance(model, nn.Module) or not isinstance(reference, nn.Module):
        raise TypeError(
            f"parity_report compares two models (torch.nn.Module), got {type(model).__name__} and {type(reference).__name__}"
        )
    for m in (model, reference):
        backbone(m)  # a clear TypeError for anything that is not a BERT
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise ValueError("input_ids must be a (batch, sequence) tensor of token ids; for one sequence use ids[None]")
    if attention_mask is not None and tuple(attention_mask.shape) != tuple(input_ids.shape):
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has {tuple(input_ids.shape)}")
    dtype = _dtype(model)
    default_atol, default_rtol = default_tolerance(_dtype(reference) if dtype == torch.float32 else dtype)
    atol = default_atol if atol is None else float(atol)
    rtol = default_rtol if rtol is None else float(rtol)
    reference_name = reference_name or ("transformers" if is_transformers_model(reference) else "reference")

    report = ParityReport(model_name, reference_name, str(dtype).removeprefix("torch."), atol, rtol)
    _load_diagnostics(report, model, reference, reference_loading_info)

    ours = run_and_capture(model, input_ids, attention_mask, token_type_ids)
    theirs = run_and_capture(reference, input_ids, attention_mask, token_type_ids)
    real = attention_mask.to(torch.bool).cpu() if attention_mask is not None else torch.ones(input_ids.shape, dtype=torch.bool)
    for name, a in ours.items():
        b = theirs.get(name)
        if b is None:
            continue
        a, b = _packed_alike(a, real), _packed_alike(b, real)
        if a.shape != b.shape:
            report.notes.append(f"{name}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}; not compared")
            continue
        report.rows.append(_compare(name, a, b, real, atol, rtol))
    missing = [n for n in theirs if n not in ours] + [n for n in ours if n not in theirs]
    if missing:
        report.notes.append(f"steps only one model has, not compared: {', '.join(missing)}")
    return report


def _packed_alike(t: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The unpadded path (minibert's default on a right-padded batch) runs the encoder on the
    real tokens only, packed in order as (T, H); a padded (B, S, H) activation becomes the same."""
    if t.dim() >= 3 and tuple(t.shape[:2]) == tuple(real.shape) and not bool(real.all()):
        return t[real.to(t.device)]
    return t


def _compare(name: str, a: torch.Tensor, b: torch.Tensor, real: torch.Tensor, atol: float, rtol: float) -> ParityRow:
    a, b = a.float().cpu(), b.float().cpu()
    if a.dim() >= 2 and tuple(a.shape[:2]) == tuple(real.shape):
        a, b = a[real], b[real]  # (tokens, ...) : real tokens only
    diff = (a - b).abs()
    ok = bool((diff <= atol + rtol * b.abs()).all()) and not bool(diff.isnan().any())
    max_abs = float(diff.max()) if diff.numel() else 0.0
    mean_abs = float(diff.mean()) if diff.numel() else 0.0
    return ParityRow(name, tuple(a.shape), max_abs, mean_abs, ok)


def is_transformers_model(model: nn.Module) -> bool:
    return type(model).__module__.startswith("transformers.")


def _dtype(model: nn.Module) -> torch.dtype:
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def _load_diagnostics(report: ParityReport, model: nn.Module, reference: nn.Module, reference_loading_info) -> None:
    for name in COMPARED_CONFIG_FIELDS:
        a, b = getattr(model.config, name, None), getattr(reference.config, name, None)
        if a != b and a is not None and b is not None:
            report.config_differences[name] = (a, b)
    report.layer_norm_eps_differences = _layer_norm_eps_differences(model, reference)
    report.weight_differences = _weight_differences(model, reference)
    for who, m in ((report.model_name, model), (report.reference_name, reference)):
        info = getattr(m, "loading_info", None)
        if info is not None:
            report.initialized_keys[who] = list(info.initialized_keys)
            report.unexpected_keys[who] = list(info.unexpected_keys)
    if reference_loading_info:
        report.initialized_keys[report.reference_name] = sorted(reference_loading_info.get("missing_keys", []))
        report.unexpected_keys[report.reference_name] = sorted(reference_loading_info.get("unexpected_keys", []))
        mismatched = reference_loading_info.get("mismatched_keys", [])
        if mismatched:
            report.notes.append(f"{report.reference_name}: weights of another shape, re-initialised: {mismatched}")


def _layer_norm_eps_differences(model: nn.Module, reference: nn.Module) -> list[str]:
    """The eps each LayerNorm really uses, paired in module order (both libraries define
    them in forward-pass order). Catches an eps set on the modules, not only in the config."""
    ours = [(n, m.eps) for n, m in backbone(model).named_modules() if isinstance(m, nn.LayerNorm)]
    theirs = [(n, m.eps) for n, m in backbone(reference).named_modules() if isinstance(m, nn.LayerNorm)]
    if len(ours) != len(theirs):
        return [f"{len(ours)} LayerNorms vs {len(theirs)}: the models have different structures"]
    return [f"{n} eps={e} vs {rn} eps={re_}" for (n, e), (rn, re_) in zip(ours, theirs) if e != re_]


def checkpoint_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A model's weights under checkpoint (transformers) names: minibert's are renamed and its
    fused [W^Q; W^K; W^V] split, so that the two libraries' weights line up key by key."""
    if hasattr(model, "checkpoint_key_map"):
        from minibert.weights import to_checkpoint_state

        state = to_checkpoint_state(model.state_dict(), model.checkpoint_key_map())
    else:
        state = model.state_dict()
    return {k.removeprefix("bert."): v for k, v in state.items()}


def _weight_differences(model: nn.Module, reference: nn.Module) -> dict[str, float]:
    ours, theirs = checkpoint_state(model), checkpoint_state(reference)
    differences = {}
    for name, a in ours.items():
        b = theirs.get(name)
        if b is None or not a.is_floating_point() or a.shape != b.shape:
            continue
        diff = float((a.detach().float().cpu() - b.detach().float().cpu()).abs().max()) if a.numel() else 0.0
        if diff > 0 or math.isnan(diff):
            differences[name] = diff
    return differences


# ---------------------------------------------------------------------------------------
# Parameter counts
# ---------------------------------------------------------------------------------------


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameters by part, in forward order: embeddings, each encoder layer, pooler, and each
    part of a task head. Parameters shared by two parts (tied embeddings) count once."""
    bert = backbone(model)
    parts: list[tuple[str, nn.Module]] = [("embeddings", bert.embeddings)]
    parts += [(f"encoder layer {i}", layer) for i, layer in enumerate(encoder_layers(model))]
    if getattr(bert, "pooler", None) is not None:
        parts.append(("pooler", bert.pooler))
    if bert is not model:
        parts += [(f"head: {name}", child) for name, child in model.named_children() if child is not bert]
    counts, seen = {}, set()
    for name, module in parts:
        params = [p for p in module.parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        if params or name == "pooler":
            counts[name] = sum(p.numel() for p in params)
    return counts
