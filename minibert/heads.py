"""Task heads: a small layer on top of BertModel, and the loss that trains it.

Devlin et al. (2018), section 3 and figure 4: every task reuses the same encoder and adds
one output layer.

    sequence classification   logits = W · dropout(pooled) + b              pooled = tanh(W_p h_[CLS] + b_p)
    token classification      logits_i = W · dropout(h_i) + b               one label per token
    question answering        [start_i, end_i] = W · h_i + b                 a span: argmax start, argmax end
    multiple choice           score_c = w · dropout(pooled_c) + b            softmax over the C choices
    masked language model     logits_i = E · LayerNorm(act(W h_i + b)) + b_v E: the word embeddings (tied)
    next sentence prediction  logits = W · pooled + b                        IsNext / NotNext
    pre-training              both of the above, loss = L_MLM + L_NSP

Each model keeps the encoder as `self.bert`, so a checkpoint's `bert.*` keys are the
backbone's; the head's own checkpoint names (`classifier.*`, `cls.predictions.*`, ...) are
listed by `head_key_map` next to the layers they fill. Labels equal to -100 are ignored by
every cross-entropy loss, as in transformers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minibert import weights
from minibert.config import BertConfig
from minibert.model import ACT2FN, BertModel
from minibert.outputs import (
    BertForPreTrainingOutput,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    NextSentencePredictorOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from minibert.pretrained import PreTrainedBert

IGNORE_INDEX = -100  # labels with this value add nothing to a cross-entropy loss


# ---------------------------------------------------------------------------------------
# The shared base: a BertModel called `bert`, a checkpoint name map, the encoder call
# ---------------------------------------------------------------------------------------


class BertHeadModel(PreTrainedBert):
    """A BertModel plus a task head. Subclasses build their layers, then call init_weights()."""

    backbone_prefix = "bert."
    add_pooling_layer = True

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=self.add_pooling_layer)

    def head_key_map(self) -> dict[str, weights.CheckpointKeys]:
        """minibert name -> checkpoint name for the head's own weights."""
        raise NotImplementedError

    def checkpoint_key_map(self) -> dict[str, weights.CheckpointKeys]:
        backbone = weights.backbone_key_map(self.config, with_pooler=self.add_pooling_layer, prefix="bert.")
        return {**backbone, **self.head_key_map()}

    def encode(self, input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states, output_attentions,
               keep_padding=False):
        return self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            keep_padding=keep_padding,
        )

    def classifier_dropout_prob(self) -> float:
        c = self.config
        return c.classifier_dropout if c.classifier_dropout is not None else c.hidden_dropout_prob


def _linear_map(ours: str, theirs: str) -> dict[str, str]:
    return {f"{ours}.{p}": f"{theirs}.{p}" for p in ("weight", "bias")}


def _finish(output, return_dict: bool):
    return output if return_dict else output.to_tuple()


# ---------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------


def check_class_labels(labels: torch.Tensor, num_classes: int, name: str = "labels") -> None:
    """Class ids must be in 0..num_classes-1 or -100; say so instead of an IndexError
    (or a CUDA device-side assert) from inside cross_entropy."""
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"{name} must be integer class ids for this loss, got dtype {labels.dtype}")
    used = labels[labels != IGNORE_INDEX]
    if used.numel() and (int(used.min()) < 0 or int(used.max()) >= num_classes):
        bad = int(used.min()) if int(used.min()) < 0 else int(used.max())
        raise ValueError(
            f"{name} contains {bad}, outside 0..{num_classes - 1} (the model has {num_classes} classes); "
            "use -100 for positions that should not count, or load the model with more labels (num_labels=...)"
        )


def labels_at_pads(labels: torch.Tensor | None, attention_mask: torch.Tensor | None) -> bool:
    """Whether a per-token label sits on a pad position. Its loss then reads the pad's output,
    which only the padded path computes (as transformers does); the unpadded one leaves zeros
    there, and LayerNorm of a zero vector would turn its gradient into nonsense. Collators
    write -100 at pads, so this is rare; when it happens the model runs padded (keep_padding)."""
    if labels is None or attention_mask is None or labels.shape != attention_mask.shape:
        return False
    return bool(((labels != IGNORE_INDEX) & (attention_mask == 0)).any())


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int, name: str = "labels") -> torch.Tensor:
    """Mean of -log softmax(logits)[label] over the labels that are not -100."""
    check_class_labels(labels, num_classes, name)
    return F.cross_entropy(logits.reshape(-1, num_classes).float(), labels.reshape(-1), ignore_index=IGNORE_INDEX)


def sequence_classification_loss(logits: torch.Tensor, labels: torch.Tensor, config: BertConfig) -> torch.Tensor:
    """Three problems, one head (transformers' rules for choosing when problem_type is None):

    regression (num_labels == 1):   mean squared error, (logit - y)^2
    single label (integer labels):  cross-entropy over the num_labels classes
    multi label (float labels):     binary cross-entropy with logits, one sigmoid per label
    """
    problem = config.problem_type or infer_problem_type(config.num_labels, labels)
    if problem == "regression":
        if config.num_labels == 1:
            return F.mse_loss(logits.squeeze().float(), labels.squeeze().to(torch.float32))
        return F.mse_loss(logits.float(), labels.to(torch.float32))
    if problem == "single_label_classification":
        return cross_entropy(logits, labels, config.num_labels)
    if tuple(labels.shape) != tuple(logits.shape):
        raise ValueError(
            f"multi-label labels must have shape (batch, num_labels) = {tuple(logits.shape)}, one 0/1 per label; "
            f"got {tuple(labels.shape)}"
        )
    return F.binary_cross_entropy_with_logits(logits.float(), labels.to(torch.float32))


def infer_problem_type(num_labels: int, labels: torch.Tensor) -> str:
    if num_labels == 1:
        return "regression"
    if not labels.dtype.is_floating_point and labels.dtype != torch.bool:
        return "single_label_classification"
    return "multi_label_classification"


# ---------------------------------------------------------------------------------------
# Sequence classification: [CLS] -> pooler -> dropout -> linear
# ---------------------------------------------------------------------------------------


class BertForSequenceClassification(BertHeadModel):
    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.dropout = nn.Dropout(self.classifier_dropout_prob())
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def head_key_map(self):
        return _linear_map("classifier", "classifier")

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        return_dict: bool = True,
    ) -> SequenceClassifierOutput | tuple:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(out.pooler_output))  # (B, num_labels)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return _finish(SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


# ---------------------------------------------------------------------------------------
# Token classification (NER, POS): every token's final hidden state -> dropout -> linear
# ---------------------------------------------------------------------------------------


class BertForTokenClassification(BertHeadModel):
    add_pooling_layer = False

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.dropout = nn.Dropout(self.classifier_dropout_prob())
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def head_key_map(self):
        return _linear_map("classifier", "classifier")

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        return_dict: bool = True,
    ) -> TokenClassifierOutput | tuple:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states, output_attentions,
                          keep_padding=labels_at_pads(labels, attention_mask))
        logits = self.classifier(self.dropout(out.last_hidden_state))  # (B, S, num_labels)
        # Padding and the word pieces after a word's first carry -100 and do not count.
        loss = cross_entropy(logits, labels, self.config.num_labels) if labels is not None else None
        return _finish(TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


# ---------------------------------------------------------------------------------------
# Extractive question answering (SQuAD, section 4.2): a start and an end score per token
# ---------------------------------------------------------------------------------------


class BertForQuestionAnswering(BertHeadModel):
    add_pooling_layer = False

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)  # [S; E] of the paper: start and end vectors
        self.init_weights()

    def head_key_map(self):
        return _linear_map("qa_outputs", "qa_outputs")

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        return_dict: bool = True,
    ) -> QuestionAnsweringModelOutput | tuple:
        # The loss's softmax runs over every position, pads included (as in transformers), so
        # it needs the padded path's values there, not the zeros the unpadded path leaves.
        with_loss = start_positions is not None
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states, output_attentions,
                          keep_padding=with_loss)
        logits = self.qa_outputs(out.last_hidden_state)  # (B, S, 2)
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))  # 2 x (B, S)
        loss = None
        if start_positions is not None and end_positions is not None:
            # Loss = (CE(start) + CE(end)) / 2. A position outside the sequence (an answer cut
            # off by truncation) is clamped to S and ignored, as transformers does.
            S = start_logits.size(1)
            start = start_positions.reshape(-1).clamp(0, S)
            end = end_positions.reshape(-1).clamp(0, S)
            loss = (
                F.cross_entropy(start_logits.float(), start, ignore_index=S)
                + F.cross_entropy(end_logits.float(), end, ignore_index=S)
            ) / 2
        elif (start_positions is None) != (end_positions is None):
            raise ValueError("pass both start_positions and end_positions for a loss, or neither")
        return _finish(
            QuestionAnsweringModelOutput(loss, start_logits, end_logits, out.hidden_states, out.attentions), return_dict
        )


# ---------------------------------------------------------------------------------------
# Multiple choice (SWAG, section 4.4): each (context, choice) pair gets one score
# ---------------------------------------------------------------------------------------


class BertForMultipleChoice(BertHeadModel):
    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.dropout = nn.Dropout(self.classifier_dropout_prob())
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.init_weights()

    def head_key_map(self):
        return _linear_map("classifier", "classifier")

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        return_dict: bool = True,
    ) -> MultipleChoiceModelOutput | tuple:
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 3:
            shape = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
            raise ValueError(f"input_ids must have shape (batch, num_choices, sequence), got {shape}")
        B, C, S = input_ids.shape

        def flat(t):  # (B, C, S) -> (B*C, S): every choice is its own sequence
            return t.reshape(B * C, t.size(-1)) if t is not None else None

        out = self.encode(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
                          output_hidden_states, output_attentions)
        logits = self.classifier(self.dropout(out.pooler_output)).view(B, C)  # (B, C)
        loss = cross_entropy(logits, labels, C) if labels is not None else None
        return _finish(MultipleChoiceModelOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


# ---------------------------------------------------------------------------------------
# Pre-training heads (section 3.1): masked LM and next sentence prediction
# ---------------------------------------------------------------------------------------


class TiedDecoder(nn.Module):
    """logits = h E^T + b: the output projection reuses the input word embeddings E
    (V, H), so only the per-word bias b (V,) is a parameter of its own."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.bias)

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(hidden, word_embeddings, self.bias)  # (B, S, V)


class MaskedLMHead(nn.Module):
    """transform: h' = LayerNorm(act(W h + b)); decoder: logits = h' E^T + b_v."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = TiedDecoder(config.vocab_size)

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(self.activation(self.dense(hidden))), word_embeddings)  # (B, S, V)


def masked_lm_key_map() -> dict[str, str]:
    # The decoder's weight is the word embedding matrix: checkpoints may hold a copy
    # (`cls.predictions.decoder.weight`), which loading ignores and saving does not write,
    # exactly as transformers does.
    return {
        **_linear_map("mlm.dense", "cls.predictions.transform.dense"),
        **_linear_map("mlm.norm", "cls.predictions.transform.LayerNorm"),
        "mlm.decoder.bias": "cls.predictions.bias",
    }


MLM_TIED_KEYS = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Cross-entropy at the masked positions only: labels hold the original token id there
    and -100 everywhere else."""
    return cross_entropy(logits, labels, vocab_size)


class BertForMaskedLM(BertHeadModel):
    add_pooling_layer = False
    tied_checkpoint_keys = MLM_TIED_KEYS

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.mlm = MaskedLMHead(config)
        self.init_weights()

    def head_key_map(self):
        return masked_lm_key_map()

    def get_output_embeddings(self) -> torch.Tensor:
        return self.bert.embeddings.word_embeddings.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        return_dict: bool = True,
    ) -> MaskedLMOutput | tuple:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states, output_attentions,
                          keep_padding=labels_at_pads(labels, attention_mask))
        logits = self.mlm(out.last_hidden_state, self.get_output_embeddings())  # (B, S, V)
        loss = masked_lm_loss(logits, labels, self.config.vocab_size) if labels is not None else None
        return _finish(MaskedLMOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class BertForNextSentencePrediction(BertHeadModel):
    """Is sentence B the one that follows sentence A? 0 = IsNext, 1 = NotNext."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.nsp = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def head_key_map(self):
        return _linear_map("nsp", "cls.seq_relationship")

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        return_dict: bool = True,
    ) -> NextSentencePredictorOutput | tuple:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states, output_attentions)
        logits = self.nsp(out.pooler_output)  # (B, 2)
        loss = cross_entropy(logits, labels, 2) if labels is not None else None
        return _finish(NextSentencePredictorOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class BertForPreTraining(BertHeadModel):
    """Both pre-training tasks at once; the loss, when both label sets are given, is their sum
    L = L_MLM + L_NSP (section 3.1, appendix A.2)."""

    tied_checkpoint_keys = MLM_TIED_KEYS

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.mlm = MaskedLMHead(config)
        self.nsp = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def head_key_map(self):
        return {**masked_lm_key_map(), **_linear_map("nsp", "cls.seq_relationship")}

    def get_output_embeddings(self) -> torch.Tensor:
        return self.bert.embeddings.word_embeddings.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        return_dict: bool = True,
    ) -> BertForPreTrainingOutput | tuple:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states, output_attentions,
                          keep_padding=labels_at_pads(labels, attention_mask))
        prediction_logits = self.mlm(out.last_hidden_state, self.get_output_embeddings())  # (B, S, V)
        seq_relationship_logits = self.nsp(out.pooler_output)  # (B, 2)
        loss = None
        if labels is not None and next_sentence_label is not None:
            loss = masked_lm_loss(prediction_logits, labels, self.config.vocab_size) + cross_entropy(
                seq_relationship_logits, next_sentence_label, 2, "next_sentence_label"
            )
        return _finish(
            BertForPreTrainingOutput(loss, prediction_logits, seq_relationship_logits, out.hidden_states, out.attentions),
            return_dict,
        )


HEAD_CLASSES = (
    BertForSequenceClassification,
    BertForTokenClassification,
    BertForQuestionAnswering,
    BertForMultipleChoice,
    BertForMaskedLM,
    BertForNextSentencePrediction,
    BertForPreTraining,
)
