"""`minibert.pipeline(task, model=...)`: the one entry point for inference, as in transformers.

    from minibert import pipeline
    classify = pipeline("text-classification", model="my-classifier")
    classify(["What a lovely day", "What a mess"])

Each task is a Pipeline subclass in its own module (see minibert/pipelines/base.py for the
three steps it implements); `TASKS` maps task names to them, `TASK_ALIASES` other names to
task names.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch

from minibert.pipelines.base import Pipeline, _parse_device
from minibert.pipelines.feature_extraction import FeatureExtractionPipeline
from minibert.pipelines.fill_mask import FillMaskPipeline
from minibert.pipelines.question_answering import QuestionAnsweringPipeline
from minibert.pipelines.text_classification import TextClassificationPipeline
from minibert.pipelines.token_classification import TokenClassificationPipeline
from minibert.pretrained import PreTrainedBert

TASKS: dict[str, type[Pipeline]] = {
    "text-classification": TextClassificationPipeline,
    "fill-mask": FillMaskPipeline,
    "feature-extraction": FeatureExtractionPipeline,
    "token-classification": TokenClassificationPipeline,
    "question-answering": QuestionAnsweringPipeline,
}
TASK_ALIASES: dict[str, str] = {
    "sentiment-analysis": "text-classification",
    "ner": "token-classification",
}

# from_pretrained options that pipeline(...) passes on to the model (the Hub ones to the tokenizer too).
_MODEL_OPTIONS = ("dtype", "torch_dtype", "attn_implementation", "quantize")
_HUB_OPTIONS = ("cache_dir", "revision", "token", "local_files_only")


def pipeline(
    task: str,
    model: str | os.PathLike | PreTrainedBert | None = None,
    tokenizer: Any = None,
    device: torch.device | str | int | None = None,
    batch_size: int = 32,
    **kwargs: Any,
) -> Pipeline:
    """Build the pipeline for `task` on `model` (a directory, a Hub id, or a loaded minibert model).

    `tokenizer`: a BertTokenizer or where to load one from (default: the model's own).
    `device`: where the model runs ("cpu", "cuda", a GPU number; default: where it is).
    Other keyword arguments are the task's call parameters (e.g. `top_k=3`, the defaults of
    every call) or from_pretrained options: dtype, attn_implementation, quantize ("int8": int8
    linear layers for CPU inference, minibert.quantization), cache_dir, revision, token,
    local_files_only.
    """
    pipeline_class = pipeline_class_for(task)
    hub = {k: kwargs.pop(k) for k in _HUB_OPTIONS if k in kwargs}
    model_options = {k: kwargs.pop(k) for k in _MODEL_OPTIONS if k in kwargs}
    unknown = sorted(set(kwargs) - set(pipeline_class.default_params))
    if unknown:
        known = ", ".join([*pipeline_class.default_params, *_MODEL_OPTIONS, *_HUB_OPTIONS])
        raise TypeError(f"pipeline({task!r}) got unknown keyword argument(s) {', '.join(unknown)}; it knows: {known}")
    if model is None:
        raise ValueError(f"pipeline({task!r}) needs model=: a directory written by save_pretrained, a Hub id, or a loaded model")

    quantize = model_options.get("quantize")
    if quantize is not None and device is not None and _parse_device(device).type != "cpu":
        raise ValueError(f"quantize={quantize!r} runs on the CPU only; drop device={device!r} or quantize")
    if isinstance(model, PreTrainedBert):
        if not isinstance(model, pipeline_class.head_class):
            raise ValueError(
                f"the {pipeline_class.task} pipeline needs a {pipeline_class.head_class.__name__}, got a {type(model).__name__}"
            )
        if tokenizer is None:
            raise ValueError("pipeline() was given a loaded model but no tokenizer: pass tokenizer= as well")
        if quantize is not None:
            model.quantize(quantize)
    else:
        if tokenizer is None:
            tokenizer = model  # the checkpoint's own tokenizer files
        model = load_head(pipeline_class, model, **model_options, **hub)
    if isinstance(tokenizer, (str, os.PathLike)):
        from minibert.tokenizer import BertTokenizer

        tokenizer = BertTokenizer.from_pretrained(tokenizer, **hub)
    return pipeline_class(model, tokenizer, device=device, batch_size=batch_size, **kwargs)


def pipeline_class_for(task: str) -> type[Pipeline]:
    """The Pipeline class of a task name or alias; an unknown name is an error listing them."""
    name = TASK_ALIASES.get(task, task) if isinstance(task, str) else task
    if name not in TASKS:
        names = sorted(TASKS) + sorted(f"{a} (= {t})" for a, t in TASK_ALIASES.items() if t in TASKS)
        raise ValueError(f"unknown task {task!r}; the tasks are: {', '.join(names)}")
    return TASKS[name]


def load_head(pipeline_class: type[Pipeline], path: str | os.PathLike, **options: Any) -> PreTrainedBert:
    """The task's head class from a checkpoint, refusing one whose head weights are missing
    (they would be random, and so would every answer)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = pipeline_class.head_class.from_pretrained(path, **options)
    missing = [k for k in model.loading_info.initialized_keys if not k.startswith(pipeline_class.unused_weights)]
    # Missing head weights are the error below; what loading said besides is said once it loads.
    for caught_warning in caught:
        if not missing and "newly initialised" not in str(caught_warning.message):
            warnings.warn_explicit(caught_warning.message, caught_warning.category, caught_warning.filename, caught_warning.lineno)
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise ValueError(
            f"{path} has no {pipeline_class.head_class.__name__} head for {pipeline_class.task} ({shown} not in the checkpoint): "
            f"{pipeline_class.how_to_get_head}"
        )
    return model


__all__ = ["pipeline", "Pipeline", "TASKS", "TASK_ALIASES", "pipeline_class_for",
           "TextClassificationPipeline", "FillMaskPipeline", "FeatureExtractionPipeline", "QuestionAnsweringPipeline"]
