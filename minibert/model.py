"""BERT, the encoder of Devlin et al. (2018), "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding", written out one paper part at a time.

Read top to bottom: embeddings, attention, feed-forward, one encoder layer, the stack, the
pooler, and BertModel that strings them together. Shapes in comments use
B = batch, S = sequence length, H = hidden size, nh = heads, hd = head dim (H / nh).

Weight loading and saving live in `minibert.pretrained` / `minibert.weights`; the names of
the parameters here are minibert's own and map to the checkpoint names there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from minibert.config import BertConfig
from minibert.outputs import BertModelOutput
from minibert.pretrained import PreTrainedBert
from minibert.unpad import Packing, pack, unpack, varlen_attention
from minibert.validation import check_inputs, check_packed_inputs

# "gelu" is the exact erf form used to train BERT; the tanh forms are approximations.
ACT2FN = {
    "gelu": nn.GELU(),
    "gelu_new": nn.GELU(approximate="tanh"),
    "gelu_pytorch_tanh": nn.GELU(approximate="tanh"),
    "relu": nn.ReLU(),
    "silu": nn.SiLU(),
    "swish": nn.SiLU(),
    "tanh": nn.Tanh(),
}


# ---------------------------------------------------------------------------------------
# Embeddings: E = LayerNorm(word[ids] + position[pos] + token_type[types])
# ---------------------------------------------------------------------------------------


class SinusoidalPositionalEncoding(nn.Module):
    """The fixed encoding of "Attention Is All You Need" (Vaswani et al. 2017, section 3.5):

        PE(pos, 2i) = sin(pos / 10000^(2i/H)),   PE(pos, 2i+1) = cos(pos / 10000^(2i/H))

    BERT learns its positions instead; this is the alternative for models trained from
    scratch (`position_embedding_type="sinusoidal"`). It has no parameters, so checkpoints
    hold nothing for it.
    """

    def __init__(self, max_positions: int, hidden_size: int):
        super().__init__()
        self.max_positions, self.hidden_size = max_positions, hidden_size
        self.register_buffer("table", self._table(), persistent=False)  # (P, H)

    def _table(self) -> torch.Tensor:
        position = torch.arange(self.max_positions, dtype=torch.float32)[:, None]  # (P, 1)
        inverse_frequency = torch.exp(
            torch.arange(0, self.hidden_size, 2, dtype=torch.float32) * (-math.log(10000.0) / self.hidden_size)
        )  # (H/2,) = 1 / 10000^(2i/H)
        table = torch.zeros(self.max_positions, self.hidden_size)
        table[:, 0::2] = torch.sin(position * inverse_frequency)
        table[:, 1::2] = torch.cos(position * inverse_frequency[: self.hidden_size // 2])
        return table

    def reset_parameters(self) -> None:
        self.table = self._table().to(self.table.device)

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        return self.table[position_ids]  # (B, S, H)


class BertEmbeddings(nn.Module):
    """Section 3, "Input/Output Representations": each token's input is the sum of its word
    piece, its position and its segment (token type) embedding, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        if config.position_embedding_type == "absolute":
            self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        else:
            self.position_embeddings = SinusoidalPositionalEncoding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        embeddings = (
            self.word_embeddings(input_ids)  # (B, S, H)
            + self.position_embeddings(position_ids)  # (B, S, H)
            + self.token_type_embeddings(token_type_ids)  # (B, S, H)
        )
        return self.dropout(self.norm(embeddings))


# ---------------------------------------------------------------------------------------
# Multi-head self-attention: softmax(Q K^T / sqrt(d_k) + mask) V, per head
# ---------------------------------------------------------------------------------------


def eager_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, dropout_p: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention written out (Vaswani et al. 2017, eq. 1).

    q, k, v: (B, nh, S, hd); mask: additive, broadcastable to (B, nh, S, S), 0 where a key
    may be attended to and the dtype's minimum where it may not. Returns the context
    (B, nh, S, hd) and the attention probabilities (B, nh, S, S).
    """
    # Times 1/sqrt(d_k), as transformers writes it: the same float32 operations in the same
    # order round the same, where dividing by an inexact sqrt(d_k) (d_k = 32, 48) does not.
    scale = q.size(-1) ** -0.5
    scores = (q @ k.transpose(-2, -1)) * scale  # (B, nh, S, S)
    # Softmax in float32: in fp16, score + mask can overflow to -inf, and a row that is all
    # -inf (a fully padded sequence) would turn into NaN.
    scores = scores.float()
    if mask is not None:
        scores = scores + mask
    probs = scores.softmax(dim=-1).to(v.dtype)  # (B, nh, S, S)
    context = F.dropout(probs, p=dropout_p) @ v  # (B, nh, S, hd)
    return context, probs


class MultiHeadSelfAttention(nn.Module):
    """Q = X W^Q, K = X W^K, V = X W^V, split into nh heads of hd dimensions each,
    attention per head, heads concatenated and projected by W^O.

    W^Q, W^K and W^V are stored as one (3H, H) matrix, [W^Q; W^K; W^V], so the three
    projections are one matrix multiply; checkpoints keep them apart (see minibert.weights).
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_heads, self.head_dim = config.num_attention_heads, config.head_dim
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)  # [W^Q; W^K; W^V]
        self.out = nn.Linear(config.hidden_size, config.hidden_size)  # W^O
        self.dropout_p = config.attention_probs_dropout_prob
        self.implementation = config.attn_implementation

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | Packing | None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        dropout_p = self.dropout_p if self.training else 0.0
        if isinstance(mask, Packing):  # x: (T, H), the real tokens of every sequence (minibert.unpad)
            q, k, v = self.qkv(x).view(-1, 3, self.num_heads, self.head_dim).unbind(1)  # 3 x (T, nh, hd)
            context = varlen_attention(q, k, v, mask, dropout_p)  # (T, nh, hd)
            return self.out(context.flatten(1)), None  # (T, H)
        B, S, H = x.shape
        qkv = self.qkv(x).view(B, S, 3, self.num_heads, self.head_dim)  # (B, S, 3, nh, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, nh, S, hd)
        if self.implementation == "eager" or output_attentions:
            # The fused kernels never form the probabilities, so asking for them means eager.
            context, probs = eager_attention(q, k, v, mask, dropout_p)
        else:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=self.head_dim**-0.5)
            probs = None
        context = context.transpose(1, 2).reshape(B, S, H)  # (B, S, nh * hd): heads concatenated
        return self.out(context), probs


# ---------------------------------------------------------------------------------------
# Position-wise feed-forward: FFN(x) = act(x W_1 + b_1) W_2 + b_2
# ---------------------------------------------------------------------------------------


class FeedForward(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)  # W_1: H -> 4H
        self.activation = ACT2FN[config.hidden_act]
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)  # W_2: 4H -> H

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.activation(self.intermediate(x)))  # (B, S, H)


# ---------------------------------------------------------------------------------------
# Encoder layer (post-LN, as in BERT and the original Transformer):
#   x = LayerNorm(x + Dropout(MultiHeadAttention(x)))
#   x = LayerNorm(x + Dropout(FeedForward(x)))
# ---------------------------------------------------------------------------------------


class EncoderLayer(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | Packing | None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, probs = self.attention(x, mask, output_attentions)
        x = self.attention_norm(x + self.dropout(attended))  # (B, S, H)
        x = self.output_norm(x + self.dropout(self.feed_forward(x)))  # (B, S, H)
        return x, probs


class Encoder(nn.Module):
    """L encoder layers, one after the other."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False  # set by model.gradient_checkpointing_enable()

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | Packing | None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                # Keep only each layer's input; recompute its activations during backward
                # (same RNG state, so the same dropout): memory for one layer's worth of compute.
                x, probs = checkpoint(layer, x, mask, output_attentions, use_reentrant=False)
            else:
                x, probs = layer(x, mask, output_attentions)
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                attentions.append(probs)
        return (
            x,
            tuple(hidden_states) if output_hidden_states else None,
            tuple(attentions) if output_attentions else None,
        )


class Pooler(nn.Module):
    """pooled = tanh(W h_[CLS] + b): the sentence-level representation used for NSP and
    sequence classification (section 3, "the final hidden vector ... of [CLS]")."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden_states[:, 0]))  # (B, H)


# ---------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------


def extended_attention_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, S) of 1 = real token, 0 = padding  ->  additive (B, 1, 1, S) of 0 or dtype-min.

    The dtype's minimum rather than -inf: a fully padded row then softmaxes to a uniform
    distribution instead of NaN, in fp32, fp16 and bf16 alike.
    """
    keep = attention_mask.to(torch.bool)[:, None, None, :]  # (B, 1, 1, S)
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(~keep, torch.finfo(dtype).min)


class BertModel(PreTrainedBert):
    """The BERT encoder: embeddings, L encoder layers and the pooler.

    `model(input_ids, attention_mask=None, token_type_ids=None, position_ids=None)` returns a
    BertModelOutput with `last_hidden_state` (B, S, H) and `pooler_output` (B, H), plus every
    hidden state and every layer's attention probabilities when asked for.

    By default (`attn_implementation="unpadded"`) a right-padded batch runs on its real tokens
    only (minibert.unpad): outputs are the same on real tokens and zero at pads. A batch
    without padding, a left-padded one, one with an empty row, or a call asking for the
    attention probabilities runs the padded sdpa path, as `"sdpa"` always does; `"eager"`
    writes attention out. `keep_padding=True` runs the padded path for a caller that reads
    the outputs at pads (the question-answering loss). Already-packed input, `input_ids` of
    shape (T,) with `cu_seqlens` (N + 1,), gives (T, H) hidden states and (N, H) pooled
    outputs, whatever the attn_implementation.
    """

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = Encoder(config)
        self.pooler = Pooler(config) if add_pooling_layer else None
        self.values_checked_off_cpu = False  # see _check_values
        self.init_weights()

    def _check_values(self, input_ids: torch.Tensor) -> bool:
        """Whether to read the ids' values (in the vocabulary?): always on the CPU, where it
        costs microseconds; elsewhere, where each read is a host-device synchronisation, on
        the model's first call only (minibert.validation)."""
        if not isinstance(input_ids, torch.Tensor) or input_ids.device.type == "cpu":
            return True  # (not a tensor: check_inputs says so)
        first, self.values_checked_off_cpu = not self.values_checked_off_cpu, True
        return first

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        return_dict: bool = True,
        cu_seqlens: torch.Tensor | None = None,
        keep_padding: bool = False,
    ) -> BertModelOutput | tuple:
        if cu_seqlens is not None:
            check_packed_inputs(self.config, input_ids, cu_seqlens, attention_mask, token_type_ids, position_ids, output_attentions,
                                self._check_values(input_ids))
            out = self.forward_packed(input_ids, Packing.from_cu_seqlens(cu_seqlens), token_type_ids, position_ids, output_hidden_states)
            return out if return_dict else out.to_tuple()
        check_inputs(self.config, input_ids, attention_mask, token_type_ids, position_ids, self._check_values(input_ids))
        padding = padding_of(attention_mask)
        unpad = self.config.attn_implementation == "unpadded" and not (output_attentions or keep_padding)
        if unpad and padding == "right":
            out = self.forward_unpadded(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states)
            return out if return_dict else out.to_tuple()
        B, S = input_ids.shape
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if position_ids is None:
            position_ids = torch.arange(S, device=input_ids.device).expand(B, S)

        x = self.embeddings(input_ids, token_type_ids, position_ids)  # (B, S, H)
        # No mask at all when nothing is padded: the fused kernels are fastest without one.
        mask = None
        if padding != "none":
            mask = extended_attention_mask(attention_mask, attention_dtype(x))  # (B, 1, 1, S)
        x, hidden_states, attentions = self.encoder(x, mask, output_hidden_states, output_attentions)
        pooled = self.pooler(x) if self.pooler is not None else None

        out = BertModelOutput(x, pooled, hidden_states, attentions)
        return out if return_dict else out.to_tuple()

    def forward_unpadded(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> BertModelOutput:
        """The padded batch's real tokens, packed once here and unpacked once at the end."""
        B, S = input_ids.shape
        packing = Packing.from_attention_mask(attention_mask)
        if position_ids is None:  # positions count from column 0, as on the padded path
            position_ids = torch.arange(S, device=input_ids.device).expand(B, S)
        token_type_ids = pack(token_type_ids, packing) if token_type_ids is not None else None
        out = self.forward_packed(pack(input_ids, packing), packing, token_type_ids, pack(position_ids, packing), output_hidden_states)
        out.last_hidden_state = unpack(out.last_hidden_state, packing, B, S)  # (B, S, H)
        if output_hidden_states:
            out.hidden_states = tuple(unpack(h, packing, B, S) for h in out.hidden_states)
        return out

    def forward_packed(
        self,
        input_ids: torch.Tensor,
        packing: Packing,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> BertModelOutput:
        """input_ids (T,): N sequences laid end to end, split where `packing` says."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if position_ids is None:
            position_ids = packing.position_ids()
        x = self.embeddings(input_ids, token_type_ids, position_ids)  # (T, H)
        x, hidden_states, _ = self.encoder(x, packing, output_hidden_states)
        # Each sequence's first token is its [CLS]: (N, 1, H) for the pooler.
        pooled = self.pooler(x[packing.cu_seqlens[:-1], None]) if self.pooler is not None else None
        return BertModelOutput(x, pooled, hidden_states)


def attention_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype attention will run in: autocast's when it is on, else the activations'."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def padding_of(attention_mask: torch.Tensor | None) -> str:
    """Where a batch is padded: "none" (no mask, or every position real), "right" (every row
    starts with a real token), or "other" (left padding, an empty row).

    Only "right" is unpadded: then each sequence's first token is column 0, where the padded
    path's pooler reads [CLS], so both paths agree on every real token and on the pooled output.
    One host-device synchronisation for both questions."""
    if attention_mask is None:
        return "none"
    keep = attention_mask.to(torch.bool)
    starts_real, all_real = torch.stack((keep[:, 0].all(), keep.all())).tolist()
    if all_real:
        return "none"
    return "right" if starts_real else "other"
