"""Pipeline: the three steps every inference task shares, with batching written once here.

    user input --preprocess--> features --_forward (batched)--> outputs --postprocess--> answer

A task (text classification, fill-mask, ...) states only those three steps:

* `preprocess(item, **params) -> list[dict]`: one user input (a text, a dict, a question and
  its context) becomes one or more *features*, several when a long input is cut into windows.
  A feature is a dict holding the model inputs as lists of ints (`input_ids`, `token_type_ids`)
  and whatever else its postprocess needs (offsets, word ids, the original text).
* `_forward(batch) -> dict[str, Tensor]`: the model on one padded batch, (B, ...) tensors out.
  Outputs named in `token_outputs` have one row per token, (B, S, ...); the others one per
  sequence.
* `postprocess(item, features, outputs, **params)`: all features of ONE input, each with its
  outputs (on the CPU, padding removed: (L, ...) for token outputs), to the answer.

Everything else is here, once: checking the call's parameters, one input or a list of them,
sorting every feature by length so each batch is padded only to its own longest member (little
compute spent on padding), `torch.inference_mode()`, the device, the progress bar, and putting
the answers back in the order the inputs came in.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch

from minibert.model import BertModel
from minibert.pretrained import PreTrainedBert
from minibert.progress import Progress
from minibert.tasks import collate

Feature = dict[str, Any]

# The keys of a feature that a pipeline hands the model; anything else is metadata for postprocess.
MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


class Pipeline:
    """Base class of every task pipeline; use `minibert.pipeline(task, model=...)` to build one.

    A subclass sets `task`, `head_class` (the model class the task needs), `default_params`
    (the keyword arguments a call accepts, with their defaults) and, when some outputs are per
    token, `token_outputs`; then it implements preprocess, _forward and postprocess.
    `minibert.pipeline` refuses a checkpoint that lacks the head's weights, saying
    `how_to_get_head`; weights under `unused_weights` (prefixes) the task never reads.
    """

    task: str = ""
    head_class: type[PreTrainedBert] = BertModel
    how_to_get_head: str = "pass a checkpoint saved from that class"
    unused_weights: tuple[str, ...] = ()
    default_params: dict[str, Any] = {}
    token_outputs: tuple[str, ...] = ()

    def __init__(
        self,
        model: PreTrainedBert,
        tokenizer,
        *,
        device: torch.device | str | int | None = None,
        batch_size: int = 32,
        **params: Any,
    ):
        self.model = model
        self.tokenizer = tokenizer
        if device is not None:
            self.model.to(_parse_device(device))
        self.model.eval()  # dropout off: a pipeline only predicts
        self.batch_size = _check_batch_size(batch_size)
        # Parameters given when the pipeline is built become its defaults for every call.
        self.params = self.check_params({**self.default_params, **self._known(params)})

    @property
    def device(self) -> torch.device:
        return self.model.device

    # ---- what a task implements ---------------------------------------------------------

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Validate a call's parameters (and convert them once per call, not once per input)."""
        return params

    def preprocess(self, item: Any, **params: Any) -> list[Feature]:
        raise NotImplementedError

    def _forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def postprocess(self, item: Any, features: list[Feature], outputs: list[dict[str, torch.Tensor]], **params: Any) -> Any:
        raise NotImplementedError

    # ---- the loop, written once ---------------------------------------------------------

    def __call__(
        self,
        inputs: Any,
        *,
        batch_size: int | None = None,
        progress: bool = False,
        show_progress_bar: bool | None = None,
        **params: Any,
    ) -> Any:
        """One input -> one answer; a list of inputs -> a list of answers, in the same order.

        `batch_size` overrides the pipeline's for this call; `progress=True` (or, as in
        sentence-transformers, `show_progress_bar=True`) shows a tqdm bar over the features.
        """
        params = self.check_params({**self.params, **self._known(params)})
        single = not isinstance(inputs, list)
        items = [inputs] if single else inputs
        if not items:
            return []

        features: list[Feature] = []
        owner: list[int] = []  # owner[j]: the index of the input that feature j came from
        for index, item in enumerate(items):
            try:
                made = self.preprocess(item, **params)
            except (TypeError, ValueError) as exc:
                if single:
                    raise
                kind = TypeError if isinstance(exc, TypeError) else ValueError
                raise kind(f"inputs[{index}]: {exc}") from None
            features += made
            owner += [index] * len(made)

        outputs = self.forward_features(
            features,
            batch_size=batch_size if batch_size is not None else self.batch_size,
            progress=progress or bool(show_progress_bar),
        )
        per_input: list[list[int]] = [[] for _ in items]
        for j, index in enumerate(owner):
            per_input[index].append(j)
        answers = [
            self.postprocess(item, [features[j] for j in rows], [outputs[j] for j in rows], **params)
            for item, rows in zip(items, per_input)
        ]
        return answers[0] if single else answers

    def forward_features(
        self, features: Sequence[Feature], *, batch_size: int | None = None, progress: bool = False
    ) -> list[dict[str, torch.Tensor]]:
        """`_forward` over every feature, longest first, in batches padded to their own longest.

        Returns one dict of CPU tensors per feature, in the order of `features`; outputs named
        in `token_outputs` are cut to the feature's own length (padding removed).
        """
        batch_size = _check_batch_size(batch_size if batch_size is not None else self.batch_size)
        order = sorted(range(len(features)), key=lambda j: len(features[j]["input_ids"]), reverse=True)
        results: list[dict[str, torch.Tensor] | None] = [None] * len(features)
        bar = Progress(len(features), self.task or type(self).__name__, enabled=progress, unit="seq")
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = self.pad([features[j] for j in rows])
                out = self._forward({k: v.to(self.device) for k, v in batch.items()})
                out = {k: v.cpu() for k, v in out.items()}
                for b, j in enumerate(rows):
                    length = len(features[j]["input_ids"])
                    results[j] = {k: v[b, :length] if k in self.token_outputs else v[b] for k, v in out.items()}
                bar.update(len(rows))
        bar.close()
        return results  # type: ignore[return-value]

    def pad(self, features: Sequence[Feature]) -> dict[str, torch.Tensor]:
        """Right-pad the features' model inputs to the longest of them, with an attention mask
        (the padding fine-tuning uses too, minibert.tasks.collate); metadata stays behind."""
        inputs = [{k: f[k] for k in MODEL_INPUTS if k in f} for f in features]
        return collate(inputs, self.model.config.pad_token_id)

    # ---- helpers ------------------------------------------------------------------------

    def _known(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(params) - set(self.default_params))
        if unknown:
            known = ", ".join(["batch_size", "progress", "show_progress_bar", *self.default_params])
            raise TypeError(f"the {self.task} pipeline got unknown keyword argument(s) {', '.join(unknown)}; it knows: {known}")
        return params

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, model={type(self.model).__name__}, device={self.device}, batch_size={self.batch_size})"


def check_texts(texts: Iterable[Any], what: str = "sentences") -> list[str]:
    """A list of strings, or an error naming the first item that is not one (and its index)."""
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{index}] is a {type(text).__name__} ({text!r:.60}), not a string; pass a list of strings")
    return texts


def _check_batch_size(batch_size: Any) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def _parse_device(device: torch.device | str | int) -> torch.device:
    """As transformers reads it: -1 is the CPU, a number n is cuda:n, else a torch device name."""
    if isinstance(device, int) and not isinstance(device, bool):
        return torch.device("cpu") if device < 0 else torch.device("cuda", device)
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N', a GPU number or a torch.device, got {device!r}") from None
