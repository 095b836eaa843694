"""Extractive question answering: a question and a context in, a span of the context out.

BERT reads `[CLS] question [SEP] context [SEP]` and a head scores every token twice: how likely
the answer starts there, and how likely it ends there (`BertForQuestionAnswering`). Around it:

1. **Windows.** A context longer than the model's window is cut into overlapping windows of at
   most `max_length` tokens, each repeating the question; consecutive windows share `stride`
   context tokens, so an answer near a cut is whole in at least one of them.
2. **Labels** (training). In each window the answer's first and last token, or position 0 ([CLS])
   when the answer is not wholly inside that window or there is none: "no answer here".
3. **Span search.** Per window: softmax over the context tokens and [CLS] of the start logits and
   of the end logits; a span (s, e) scores p_start(s) * p_end(e), for s <= e inside the context
   and at most `max_answer_len` tokens; [CLS]'s own product is the "no answer" score. The best
   spans over all windows win; each becomes the exact characters of the original context.

The span search is the one the question-answering pipeline of transformers 4.x uses, and scores
equal it (tests/test_pipelines_question_answering.py); evaluation, `minibert predict` and
`minibert.pipeline("question-answering")` all call `best_answers` below.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import torch

from minibert.data import DataError
from minibert.heads import BertForQuestionAnswering
from minibert.metrics import squad_scores
from minibert.squad import QAExample, read_squad
from minibert.tasks.base import Feature, Task

NO_ANSWER_POSITION = 0  # [CLS]: the label and the score of "no answer"
MASKED_LOGIT = -10000.0  # what transformers writes over tokens that cannot be in the answer


def encode_windows(
    tokenizer, questions: Sequence[str], contexts: Sequence[str], max_length: int = 384, stride: int = 128,
    max_question_len: int | None = None,
) -> list[dict]:
    """Each (question, context) pair as its windows, in order: `[CLS] question [SEP] part of the
    context [SEP]`, at most `max_length` tokens, consecutive windows sharing `stride` context tokens.

    A window is a dict: the model inputs (`input_ids`, `token_type_ids`) and what the span search
    needs to map tokens back to characters (`offset_mapping`, `sequence_ids`, `word_ids`), plus
    `example`, the index of its pair.
    """
    if len(questions) != len(contexts):
        raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
    for i, (question, context) in enumerate(zip(questions, contexts)):
        for name, text in (("question", question), ("context", context)):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{name} {i} is {'empty' if isinstance(text, str) else repr(text)}; every question needs a question and a context text")
    check_window(tokenizer, questions, max_length, stride, max_question_len)
    encoded = tokenizer(
        list(questions), list(contexts), truncation="only_second", max_length=max_length, stride=stride,
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )
    windows = []
    for i, example in enumerate(encoded["overflow_to_sample_mapping"]):
        windows.append({
            "input_ids": encoded["input_ids"][i],
            "token_type_ids": encoded["token_type_ids"][i],
            "offset_mapping": [tuple(o) for o in encoded["offset_mapping"][i]],
            "sequence_ids": encoded.sequence_ids(i),
            "word_ids": encoded.word_ids(i),
            "example": example,
        })
    return windows


def check_window(tokenizer, questions: Sequence[str], max_length: int, stride: int, max_question_len: int | None = None) -> None:
    """Every question must leave room for some context in a window of `max_length` tokens (and
    have at most `max_question_len` tokens), and the stride must be smaller than that room (else
    the windows would never advance)."""
    if not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_seq_len must be a positive integer, got {max_length!r}")
    if not isinstance(stride, int) or stride < 0:
        raise ValueError(f"doc_stride must be a non-negative integer, got {stride!r}")
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    lengths = [len(ids) for ids in tokenizer(list(questions), add_special_tokens=False)["input_ids"]]
    longest = max(lengths)
    if max_question_len is not None and longest > max_question_len:
        raise ValueError(f"question {lengths.index(longest)} has {longest} tokens, more than max_question_len={max_question_len}; "
                         "shorten it or raise max_question_len")
    room = max_length - specials - longest  # context tokens per window beside the longest question
    if room < 1:
        raise ValueError(
            f"a question of {longest} tokens leaves no room for the context in a window of max_seq_len={max_length} "
            f"tokens ({specials} are special tokens); shorten the question or raise max_seq_len"
        )
    if stride >= room:
        raise ValueError(
            f"doc_stride={stride} is too large: a window of max_seq_len={max_length} tokens holds only {room} context "
            f"tokens beside a question of {longest} tokens, and consecutive windows must advance; use doc_stride < {room}"
        )


def add_labels(windows: list[dict], answer_spans: Sequence[tuple[int, int] | None]) -> list[dict]:
    """Training targets: in each window the first and last token of its example's answer
    (answer_spans[example] = (first character, end character) or None for no answer), or
    position 0 ([CLS]) for both when the answer is not wholly inside the window."""
    for window in windows:
        span = answer_spans[window["example"]]
        start = end = NO_ANSWER_POSITION
        if span is not None:
            first_char, end_char = span
            context = [t for t, s in enumerate(window["sequence_ids"]) if s == 1]
            offsets = window["offset_mapping"]
            if offsets[context[0]][0] <= first_char and end_char <= offsets[context[-1]][1]:
                start = max(t for t in context if offsets[t][0] <= first_char)  # the token the answer starts in
                end = min(t for t in context if offsets[t][1] >= end_char)  # the token it ends in
        window["start_positions"], window["end_positions"] = start, end
    return windows


def best_answers(
    context: str,
    windows: Sequence[dict],
    start_logits: Sequence[torch.Tensor],
    end_logits: Sequence[torch.Tensor],
    top_k: int = 1,
    max_answer_len: int = 15,
    handle_impossible_answer: bool = False,
    align_to_words: bool = True,
) -> list[dict]:
    """The `top_k` best answers to one question over all windows of its context, best first.

    windows[i] holds `offset_mapping`, `sequence_ids` and `word_ids` of window i (the context
    is sequence 1); start_logits[i], end_logits[i]: (T_i,) that window's logits, no padding.
    Returns dicts {"score", "start", "end", "answer"}: `answer == context[start:end]`, with
    `align_to_words` widened to whole words. Spans that give the same text (ignoring case) are
    one answer whose score is their sum; with `handle_impossible_answer` the empty answer
    {"start": 0, "end": 0, "answer": ""} competes with the lowest "no answer" score of any window.
    """
    # Some spans are lost when they are widened to words, so each window offers more candidates.
    per_window = top_k * 2 + 10 if align_to_words else top_k
    answers: list[dict] = []
    by_text: dict[str, dict] = {}
    null_score = 1_000_000.0  # larger than any probability: min() takes the first window's
    for window, start, end in zip(windows, start_logits, end_logits, strict=True):
        spans, window_null = _window_spans(window, start, end, per_window, max_answer_len)
        null_score = min(null_score, window_null)
        for s, e, score in spans:
            first, last = _char_span(window, s, e, align_to_words)
            text = context[first:last]
            same = by_text.get(text.lower())
            if same is not None:
                same["score"] += score
            else:
                by_text[text.lower()] = {"score": score, "start": first, "end": last, "answer": text}
                answers.append(by_text[text.lower()])
    if handle_impossible_answer:
        answers.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
    return sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]


def _window_spans(window: dict, start: torch.Tensor, end: torch.Tensor, k: int, max_answer_len: int):
    """The k best (start token, end token, score) of one window, and its "no answer" score."""
    in_context = torch.tensor([s == 1 for s in window["sequence_ids"]])  # (T,)
    if start.shape != in_context.shape or end.shape != in_context.shape:
        raise ValueError(f"logits of shape {tuple(start.shape)} / {tuple(end.shape)} for a window of {len(in_context)} tokens")
    scored = in_context.clone()
    scored[NO_ANSWER_POSITION] = True  # [CLS] takes part in the softmax: it is the "no answer"
    p_start = start.float().masked_fill(~scored, MASKED_LOGIT).softmax(-1)  # (T,)
    p_end = end.float().masked_fill(~scored, MASKED_LOGIT).softmax(-1)  # (T,)
    null = (p_start[NO_ANSWER_POSITION] * p_end[NO_ANSWER_POSITION]).item()

    T = in_context.numel()
    s, e = torch.arange(T)[:, None], torch.arange(T)[None, :]
    allowed = in_context[:, None] & in_context[None, :] & (e >= s) & (e - s < max_answer_len)  # (T, T)
    candidates = allowed.flatten().nonzero().squeeze(1)  # (C,) flat indices s * T + e
    scores = (p_start[:, None] * p_end[None, :]).flatten()[candidates]  # (C,)
    # Highest first; equal scores keep position order (a stable sort, not topk, whose ties vary).
    best = torch.sort(scores, descending=True, stable=True).indices[:k]
    return [(candidates[i].item() // T, candidates[i].item() % T, scores[i].item()) for i in best.tolist()], null


def _char_span(window: dict, s: int, e: int, align_to_words: bool) -> tuple[int, int]:
    """Characters of the context from token s to token e, widened to whole words if asked:
    the first and last token of their words within this window."""
    offsets = window["offset_mapping"]
    if align_to_words:
        words, sequences = window["word_ids"], window["sequence_ids"]
        s_word, e_word = words[s], words[e]
        if s_word is not None and e_word is not None:
            same_s = [i for i, (w, q) in enumerate(zip(words, sequences)) if w == s_word and q == sequences[s]]
            same_e = [i for i, (w, q) in enumerate(zip(words, sequences)) if w == e_word and q == sequences[e]]
            return offsets[same_s[0]][0], offsets[same_e[-1]][1]
    return offsets[s][0], offsets[e][1]


class QuestionAnswering(Task):
    """`--task question-answering`: SQuAD-format data (minibert.squad), BertForQuestionAnswering,
    features = the windows of each question with their start/end labels, and the SQuAD exact
    match and F1 of the best span (the "no answer" competing when the dev set has unanswerable
    questions); F1 picks the best epoch."""

    name = "question-answering"
    model_class = BertForQuestionAnswering
    metric = "f1"
    outputs = ("start_logits", "end_logits")
    token_outputs = ("start_logits", "end_logits")
    default_max_length = 384

    def __init__(self, doc_stride: int | None = None, max_answer_len: int = 15, skip_bad_answers: bool = False):
        self.doc_stride, self.max_answer_len, self.skip_bad_answers = doc_stride, max_answer_len, skip_bad_answers

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--doc-stride", type=int,
                            help="context tokens shared by consecutive windows of a long context (default: min(max length / 2, 128))")
        parser.add_argument("--max-answer-len", type=int, default=15, help="longest answer in tokens when scoring (default: 15)")
        parser.add_argument("--skip-bad-answers", action="store_true",
                            help="leave out (and count) questions whose answer_start does not point at their answer, instead of stopping")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "QuestionAnswering":
        return cls(args.doc_stride, args.max_answer_len, args.skip_bad_answers)

    def read_examples(self, path) -> list[QAExample]:
        data = read_squad(path, skip_bad_answers=self.skip_bad_answers)
        if data.skipped:
            qid, why = data.skipped[0]
            print(f"note: {path}: skipped {len(data.skipped)} question(s) with a bad answer, e.g. {qid!r}: {why}", file=sys.stderr)
        return data.examples

    def features(self, examples: Sequence[QAExample], tokenizer, max_length: int, label2id=None) -> list[Feature]:
        try:
            stride = self.doc_stride if self.doc_stride is not None else min(max_length // 2, 128)  # as the pipeline
            windows = encode_windows(tokenizer, [e.question for e in examples], [e.context for e in examples],
                                     max_length=max_length, stride=stride)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        spans = [(e.answer_starts[0], e.answer_starts[0] + len(e.answers[0])) if e.answers else None for e in examples]
        add_labels(windows, spans)
        for window in windows:  # what predictions and compute_metrics need
            example = examples[window["example"]]
            window["id"], window["context"], window["answers"] = example.id, example.context, example.answers
        return windows

    def predictions(self, outputs: dict[str, list[torch.Tensor]], features: Sequence[Feature]) -> dict[str, str]:
        """id -> the best answer over the question's windows ("" for no answer, which competes
        when some question of the set is unanswerable): the official prediction file's form."""
        grouped: dict[str, list[int]] = {}
        for i, window in enumerate(features):
            grouped.setdefault(window["id"], []).append(i)
        unanswerable = any(not features[rows[0]]["answers"] for rows in grouped.values())
        answers = {}
        for qid, rows in grouped.items():
            best = best_answers(
                features[rows[0]]["context"], [features[i] for i in rows],
                [outputs["start_logits"][i] for i in rows], [outputs["end_logits"][i] for i in rows],
                max_answer_len=self.max_answer_len, handle_impossible_answer=unanswerable,
            )
            answers[qid] = best[0]["answer"] if best else ""
        return answers

    def compute_metrics(self, outputs: dict[str, list[torch.Tensor]], features: Sequence[Feature], config) -> dict[str, float]:
        references = {f["id"]: f["answers"] for f in features}
        return {k: float(v) for k, v in squad_scores(self.predictions(outputs, features), references).items()}
