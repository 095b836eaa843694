"""question-answering: the span of a context that answers a question, as transformers 4.x answers.

    pipe = minibert.pipeline("question-answering", model="my-reader")
    pipe(question="Who wrote it?", context="Minibert was written by ...")
    # {"score": 0.93, "start": 24, "end": 31, "answer": "..."}   answer == context[start:end]
    pipe(question=["Who?", "When?"], context=text)                # one answer per question
    pipe(question=..., context=..., top_k=3)                      # a list, best first
    pipe({"question": ..., "context": ...})                       # dicts work too

A long context is cut into windows (`max_seq_len` tokens, `doc_stride` shared between
neighbours) and the best span over all windows wins; minibert/tasks/question_answering.py holds
the windows and the span search (shared with training, `minibert evaluate` and `predict`).

Like transformers' pipeline: a call with one question (or a list of one) returns one result;
a result with `top_k` > 1 is a list, unless only one answer was found.
`handle_impossible_answer=True` lets the empty answer ({"start": 0, "end": 0, "answer": ""})
win when the model's "no answer" score is the highest. `max_question_len` refuses questions
longer than that many tokens (transformers' fast-tokenizer path ignores it).
"""

from __future__ import annotations

from typing import Any

import torch

from minibert.heads import BertForQuestionAnswering
from minibert.pipelines.base import Feature, Pipeline
from minibert.tasks.question_answering import best_answers, encode_windows

DEFAULT_MAX_SEQ_LEN = 384


class QuestionAnsweringPipeline(Pipeline):
    task = "question-answering"
    head_class = BertForQuestionAnswering
    how_to_get_head = (
        "fine-tune one with `minibert train --task question-answering`, or pass a checkpoint saved from "
        "BertForQuestionAnswering"
    )
    default_params = {
        "top_k": 1, "doc_stride": None, "max_seq_len": None, "max_question_len": 64, "max_answer_len": 15,
        "handle_impossible_answer": False, "align_to_words": True,
    }
    token_outputs = ("start_logits", "end_logits")

    def __call__(self, *args: Any, question: Any = None, context: Any = None, **kwargs: Any) -> Any:
        """pipe(question=..., context=...) with a string or a list in each (a list of questions
        may share one context), pipe({"question": ..., "context": ...}) or a list of such dicts."""
        if args and (question is not None or context is not None):
            raise TypeError("pass the question and context either as keywords or as dicts, not both")
        if args:
            if len(args) != 1:
                raise TypeError("pass one dict {'question': ..., 'context': ...} or a list of them (or question=..., context=...)")
            inputs = args[0]
        elif question is None or context is None:
            raise TypeError(f"the question-answering pipeline needs question= and context= (missing: "
                            f"{' and '.join(k for k, v in (('question', question), ('context', context)) if v is None)})")
        elif isinstance(question, list) and isinstance(context, list):
            if len(question) != len(context):
                raise ValueError(f"{len(question)} questions but {len(context)} contexts; pass one context per question, or one for all")
            inputs = [{"question": q, "context": c} for q, c in zip(question, context)]
        elif isinstance(question, list):
            inputs = [{"question": q, "context": context} for q in question]
        else:
            inputs = {"question": question, "context": context}
        if isinstance(inputs, list) and len(inputs) == 1:
            inputs = inputs[0]  # as transformers: a list of one answers like a single question
        return super().__call__(inputs, **kwargs)

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        for name in ("top_k", "max_question_len", "max_answer_len"):
            _check_positive(name, params[name])
        max_seq_len, doc_stride = self.window_sizes(params)  # None stays None: derived per call
        _check_positive("max_seq_len", max_seq_len)
        if not isinstance(doc_stride, int) or isinstance(doc_stride, bool) or doc_stride < 0:
            raise ValueError(f"doc_stride must be a non-negative integer, got {doc_stride!r}")
        if doc_stride > max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len}); lower doc_stride")
        limit = self.model.config.max_position_embeddings
        if max_seq_len > limit:
            raise ValueError(f"max_seq_len={max_seq_len} is more than the model's {limit} positions")
        return params

    def window_sizes(self, params: dict[str, Any]) -> tuple[int, int]:
        """max_seq_len and doc_stride, with transformers' defaults: min(the tokenizer's maximum,
        384) tokens (and at most the model's positions), and half of that, at most 128, shared
        between neighbouring windows."""
        max_seq_len = params["max_seq_len"]
        if max_seq_len is None:
            max_seq_len = min(self.tokenizer.model_max_length, DEFAULT_MAX_SEQ_LEN, self.model.config.max_position_embeddings)
        doc_stride = params["doc_stride"]
        if doc_stride is None and isinstance(max_seq_len, int):
            doc_stride = min(max_seq_len // 2, 128)
        return max_seq_len, doc_stride

    def preprocess(self, item: Any, *, max_question_len: int, **params: Any) -> list[Feature]:
        if not isinstance(item, dict) or "question" not in item or "context" not in item:
            raise TypeError(f"question-answering takes {{'question': ..., 'context': ...}}, got {type(item).__name__}")
        question, context = item["question"], item["context"]
        for name, text in (("question", question), ("context", context)):
            if not isinstance(text, str):
                raise TypeError(f"the {name} must be a string, got {type(text).__name__}")
            if not text.strip():
                raise ValueError(f"the {name} is empty")
        max_seq_len, doc_stride = self.window_sizes(params)
        return encode_windows(self.tokenizer, [question], [context], max_length=max_seq_len, stride=doc_stride,
                              max_question_len=max_question_len)

    def _forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.model(**batch)
        return {"start_logits": out.start_logits, "end_logits": out.end_logits}  # 2 x (B, S)

    def postprocess(self, item, features, outputs, *, top_k, max_answer_len, handle_impossible_answer, align_to_words, **params):
        answers = best_answers(
            item["context"], features, [o["start_logits"] for o in outputs], [o["end_logits"] for o in outputs],
            top_k=top_k, max_answer_len=max_answer_len, handle_impossible_answer=handle_impossible_answer,
            align_to_words=align_to_words,
        )
        return answers[0] if len(answers) == 1 else answers


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
