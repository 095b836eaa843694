"""Checking what a user passes to the model, before anything runs.

The mistakes people make with BERT inputs (an id outside the vocabulary, a sequence longer
than the position table, a mask of another shape, float ids) would otherwise surface as an
IndexError, or a CUDA device-side assert, deep inside an embedding lookup. These checks turn
each into a ValueError that says what is wrong and what to do. They live apart from
minibert.model so that the model file reads as the architecture.

Shapes and dtypes are free to check. Values (is every id inside the vocabulary?) are not,
off the CPU: reading a GPU tensor's min and max is a host-device synchronisation, which
stalls the pipeline of queued kernels on every forward pass. So values are checked on every
call for CPU tensors (a few microseconds: benchmarks/bench_input_checks.py) and on the first
call of a model for tensors elsewhere (`check_values`, decided by the model), which catches
the usual mistake, ids of another vocabulary, at once.
"""

from __future__ import annotations

import torch

from minibert.config import BertConfig


def check_device(device: torch.device | str | None) -> torch.device | None:
    """`device` as a torch.device that this machine has (None stays None): a name torch does not
    know, or a GPU that is not there, is a ValueError now, not at the first tensor moved there.
    (from_pretrained, TrainingArguments and the commands' --device all check through here.)"""
    if device is None:
        return None
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a device; use 'cpu', 'cuda', 'cuda:1', 'mps', ...") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but torch sees no CUDA GPU; use device='cpu'")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device={str(device)!r} but torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' but this machine has no usable Apple GPU; use device='cpu'")
    return device


def check_packed_inputs(
    config: BertConfig,
    input_ids: torch.Tensor,
    cu_seqlens: torch.Tensor,
    attention_mask: torch.Tensor | None,
    token_type_ids: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    output_attentions: bool,
    check_values: bool = True,
) -> None:
    """Packed input: input_ids (T,) and cu_seqlens (N + 1,) = 0, end of sequence 1, ..., T.
    The offsets are always read (packing needs them on the host anyway); the ids' values only
    with `check_values`."""
    if not isinstance(cu_seqlens, torch.Tensor):
        raise TypeError(f"cu_seqlens must be a torch.Tensor of sequence offsets, got {type(cu_seqlens).__name__}")
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor of token ids, got {type(input_ids).__name__}")
    if input_ids.dim() != 1:
        raise ValueError(
            f"with cu_seqlens, input_ids must be packed: shape (total_tokens,), got {tuple(input_ids.shape)}; "
            "for a padded (batch, sequence) batch pass attention_mask instead of cu_seqlens"
        )
    _check_index_dtype("input_ids", input_ids)
    if cu_seqlens.dim() != 1 or cu_seqlens.numel() < 2 or cu_seqlens.dtype.is_floating_point or cu_seqlens.dtype == torch.bool:
        raise ValueError(
            f"cu_seqlens must be a 1-D integer tensor of N + 1 offsets (0, end of sequence 1, ..., total_tokens), "
            f"got shape {tuple(cu_seqlens.shape)} and dtype {cu_seqlens.dtype}"
        )
    if cu_seqlens.device != input_ids.device:
        raise ValueError(f"cu_seqlens is on {cu_seqlens.device} but input_ids on {input_ids.device}; put them on the same device")
    if attention_mask is not None:
        raise ValueError("packed input has no padding: pass cu_seqlens or attention_mask, not both")
    if output_attentions:
        raise ValueError(
            "output_attentions=True needs the (batch, heads, sequence, sequence) probabilities of a padded batch; "
            "pass padded input_ids with attention_mask instead of cu_seqlens"
        )
    offsets = cu_seqlens.tolist()
    lengths = [b - a for a, b in zip(offsets, offsets[1:])]
    if offsets[0] != 0 or offsets[-1] != input_ids.numel() or min(lengths) < 1:
        raise ValueError(
            f"cu_seqlens must start at 0, increase strictly (every sequence has at least one token) and end at "
            f"len(input_ids) = {input_ids.numel()}; got {offsets[:8]}{' ...' if len(offsets) > 8 else ''} ending at {offsets[-1]}"
        )
    if max(lengths) > config.max_position_embeddings:
        raise ValueError(
            f"a packed sequence has {max(lengths)} tokens but the model has only {config.max_position_embeddings} positions; "
            "truncate the sequences before packing"
        )
    for name, tensor in (("token_type_ids", token_type_ids), ("position_ids", position_ids)):
        if tensor is not None and tuple(tensor.shape) != tuple(input_ids.shape):
            raise ValueError(f"{name} has shape {tuple(tensor.shape)} but the packed input_ids has {tuple(input_ids.shape)}; they must match")
    _check_ids(config, input_ids, token_type_ids, position_ids, check_values)


def check_inputs(
    config: BertConfig,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    token_type_ids: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    check_values: bool = True,
) -> None:
    """Turn the mistakes users make into a ValueError that says what to do, instead of an
    IndexError (or a CUDA device-side assert) deep inside an embedding lookup.
    `check_values=False` checks shapes and dtypes only, reading no tensor's values."""
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor of token ids, got {type(input_ids).__name__}")
    if input_ids.dim() != 2:
        raise ValueError(
            f"input_ids must have shape (batch, sequence), got {tuple(input_ids.shape)}; "
            "for a single sequence use input_ids[None]"
        )
    _check_index_dtype("input_ids", input_ids)
    if input_ids.shape[0] == 0:
        raise ValueError(f"input_ids has shape {tuple(input_ids.shape)}, a batch of no sequences; pass at least one")
    if input_ids.shape[1] == 0:
        raise ValueError("input_ids has an empty sequence dimension; every sequence needs at least one token")
    seq_len = input_ids.shape[1]
    if seq_len > config.max_position_embeddings:
        raise ValueError(
            f"the sequence has {seq_len} tokens but the model has only {config.max_position_embeddings} positions; "
            "truncate the input (tokenizer(..., truncation=True, max_length=...))"
        )
    for name, tensor in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids), ("position_ids", position_ids)):
        if tensor is not None and tuple(tensor.shape) != tuple(input_ids.shape):
            raise ValueError(f"{name} has shape {tuple(tensor.shape)} but input_ids has {tuple(input_ids.shape)}; they must match")
    _check_ids(config, input_ids, token_type_ids, position_ids, check_values)


def _check_range(name: str, tensor: torch.Tensor, size: int, what: str, hint: str) -> None:
    low, high = torch.stack(torch.aminmax(tensor)).tolist()  # one pass, one read back
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        raise ValueError(f"{name} contains {bad}, outside 0..{size - 1} ({what} {size}); {hint}")


def _check_index_dtype(name: str, tensor: torch.Tensor) -> None:
    # Embedding lookups take int64 or int32 indices only; uint8 or float ones fail deep inside.
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype not in (torch.int64, torch.int32):
        what = "token ids" if name == "input_ids" else "indices"
        raise ValueError(f"{name} must be integer {what} (int64 or int32), got dtype {tensor.dtype}; convert with {name}.long()")


def _check_ids(
    config: BertConfig,
    input_ids: torch.Tensor,
    token_type_ids: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    check_values: bool,
) -> None:
    """What padded and packed inputs share: the dtypes of the optional index tensors and, when
    `check_values`, every id inside its embedding table."""
    for name, tensor in (("token_type_ids", token_type_ids), ("position_ids", position_ids)):
        if tensor is not None:
            _check_index_dtype(name, tensor)
    if not check_values:
        return
    _check_range("input_ids", input_ids, config.vocab_size, "the vocabulary has", "was the text tokenized with this model's vocabulary?")
    if token_type_ids is not None:
        _check_range("token_type_ids", token_type_ids, config.type_vocab_size, "type_vocab_size is", "use 0 for the first segment and 1 for the second")
    if position_ids is not None:
        _check_range("position_ids", position_ids, config.max_position_embeddings, "max_position_embeddings is", "positions count from 0")
