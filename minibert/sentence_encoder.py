"""SentenceEncoder: one vector per sentence, as sentence-transformers computes it.

A sentence-transformers checkpoint describes its model as a list of modules in `modules.json`:

    Transformer   the BERT encoder; sentence_bert_config.json gives max_seq_length (inputs are
                  truncated to it) and do_lower_case
    Pooling       1_Pooling/config.json: how token vectors become one vector (minibert.pooling)
    Normalize     scale each vector to unit length, so cosine = dot product

`SentenceEncoder.from_pretrained(path)` reads those files and runs the same three steps:
tokenize (with truncation), the encoder on length-sorted batches (each padded only to its own
longest text, so there is little padding to compute), then pooling over the real tokens and
normalisation. A plain BERT
checkpoint without modules.json gets mean pooling and no normalisation, as sentence-transformers
gives it.

    encoder = SentenceEncoder.from_pretrained(minilm_dir)
    vectors = encoder.encode(["A man is eating food.", "A man is riding a horse."])  # (2, 384)
    encoder.similarity(vectors, vectors)                                          # (2, 2) cosines
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from minibert.hub import resolve_file
from minibert.model import BertModel
from minibert.pipelines.base import Feature, Pipeline, check_texts
from minibert.pooling import Pooling
from minibert.similarity import cos_sim

_HUB_OPTIONS = ("cache_dir", "revision", "token", "local_files_only")
KNOWN_MODULES = ("Transformer", "Pooling", "Normalize")


class SentenceEncoder(Pipeline):
    """Sentence embeddings from a BERT checkpoint, read and computed as sentence-transformers does."""

    task = "sentence-embedding"
    head_class = BertModel
    unused_weights = ("pooler.",)  # pooling is the Pooling module's, not BERT's pooler
    default_params = {"prompt": None}

    def __init__(
        self,
        model: BertModel,
        tokenizer,
        *,
        pooling: Pooling = Pooling(),
        normalize: bool = False,
        max_seq_length: int | None = None,
        do_lower_case: bool = False,
        device: torch.device | str | int | None = None,
        batch_size: int = 32,
    ):
        self.pooling = pooling
        self.normalize = normalize
        limit = min(tokenizer.model_max_length, model.config.max_position_embeddings)
        self.max_seq_length = min(max_seq_length, limit) if max_seq_length else limit
        self.do_lower_case = do_lower_case
        self._skip_tokens = 0  # the prompt's tokens, when the pooling leaves them out (set per call)
        super().__init__(model, tokenizer, device=device, batch_size=batch_size)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        device: torch.device | str | int | None = None,
        dtype: torch.dtype | str | None = None,
        attn_implementation: str | None = None,
        batch_size: int = 32,
        quantize: str | None = None,
        **hub: Any,
    ) -> "SentenceEncoder":
        """Load a sentence-transformers directory (or Hub id), or a plain BERT checkpoint.

        `attn_implementation`: as for BertModel.from_pretrained ("unpadded" by default, real
        tokens only, the same sentence vectors as "sdpa": pooling never reads a pad).
        `quantize="int8"`: int8 linear layers for CPU inference (minibert.quantization)."""
        unknown = sorted(set(hub) - set(_HUB_OPTIONS))
        if unknown:
            raise TypeError(f"SentenceEncoder.from_pretrained got unknown keyword argument(s) {', '.join(unknown)}; "
                            f"it knows: device, dtype, attn_implementation, batch_size, quantize, {', '.join(_HUB_OPTIONS)}")
        layout = read_layout(name_or_path, hub)
        from minibert.tokenizer import BertTokenizer

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*newly initialised")  # the pooler, which pooling never reads
            model = BertModel.from_pretrained(layout["transformer_path"], dtype=dtype, attn_implementation=attn_implementation,
                                              quantize=quantize, **hub)
        tokenizer = BertTokenizer.from_pretrained(layout["transformer_path"], **hub)
        return cls(model, tokenizer, pooling=layout["pooling"], normalize=layout["normalize"],
                   max_seq_length=layout["max_seq_length"], do_lower_case=layout["do_lower_case"],
                   device=device, batch_size=batch_size)

    # ---- the API of sentence-transformers -----------------------------------------------

    def encode(
        self,
        sentences: str | list[str],
        batch_size: int | None = None,
        show_progress_bar: bool | None = None,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        normalize_embeddings: bool = False,
        prompt: str | None = None,
    ) -> np.ndarray | torch.Tensor | list[torch.Tensor]:
        """Embed one sentence (a (D,) vector) or a list of them ((N, D)).

        A numpy array by default; a tensor with convert_to_tensor=True; a list of tensors with
        both convert_to_numpy and convert_to_tensor False. `normalize_embeddings`: scale to unit
        length (MiniLM's Normalize module does already). `prompt` is put before every sentence.
        `batch_size`: sentences per batch (default: the encoder's, 32 unless from_pretrained said).
        """
        single = isinstance(sentences, str)
        if not single and not isinstance(sentences, (list, tuple)):
            raise TypeError(f"sentences must be a string or a list of strings, got {type(sentences).__name__}")
        texts = [sentences] if single else check_texts(sentences, "sentences")
        vectors = self(texts, batch_size=batch_size, progress=bool(show_progress_bar), prompt=prompt) if texts else []
        if normalize_embeddings:
            vectors = [F.normalize(v, dim=-1) for v in vectors]
        if convert_to_tensor or convert_to_numpy:
            stacked = torch.stack(vectors) if vectors else torch.empty(0)  # (N, D); (0,) as sentence-transformers
            out: Any = stacked if convert_to_tensor else stacked.float().numpy()
        else:
            out = vectors
        return out[0] if single else out

    def similarity(self, a: Any, b: Any) -> torch.Tensor:
        """(N, D) and (M, D) embeddings -> the (N, M) matrix of their cosines."""
        return cos_sim(a, b)

    @property
    def dimension(self) -> int:
        """The size of a sentence vector (hidden size times the number of pooling modes)."""
        return self.model.config.hidden_size * len(self.pooling.modes)

    # ---- the three pipeline steps ---------------------------------------------------------

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        prompt = params["prompt"]
        if prompt is not None and not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
        # sentence-transformers counts the prompt's tokens with [CLS] and without the closing [SEP].
        self._skip_tokens = len(self.tokenize(prompt)) - 1 if prompt and not self.pooling.include_prompt else 0
        return params

    def tokenize(self, text: str) -> list[int]:
        if self.do_lower_case:
            text = text.lower()
        return self.tokenizer(text, truncation=True, max_length=self.max_seq_length)["input_ids"]

    def preprocess(self, item: Any, *, prompt: str | None = None) -> list[Feature]:
        if not isinstance(item, str):
            raise TypeError(f"expected a string, got {type(item).__name__}")
        return [{"input_ids": self.tokenize(prompt + item if prompt else item)}]

    def _forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = self.model(batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state  # (B, S, H)
        vectors = self.pooling(hidden, batch["attention_mask"], self._skip_tokens)  # (B, D): real tokens only
        if self.normalize:
            vectors = F.normalize(vectors, dim=-1)
        return {"sentence_embedding": vectors}

    def postprocess(self, item, features, outputs, **params) -> torch.Tensor:
        return outputs[0]["sentence_embedding"]  # (D,)

    def __repr__(self) -> str:
        return (f"SentenceEncoder(max_seq_length={self.max_seq_length}, pooling={'+'.join(self.pooling.modes)}, "
                f"normalize={self.normalize}, dimension={self.dimension}, device={self.device})")


def read_layout(name_or_path: str | os.PathLike, hub: dict) -> dict[str, Any]:
    """What modules.json and the module configs say; mean pooling for a plain BERT checkpoint."""
    modules_file = resolve_file(name_or_path, "modules.json", required=False, **hub)
    if modules_file is None:
        warnings.warn(
            f"{name_or_path} has no modules.json (it is not a sentence-transformers model): "
            "using mean pooling and no normalisation, as sentence-transformers does",
            stacklevel=3,
        )
        return {"transformer_path": name_or_path, "pooling": Pooling(("mean",)), "normalize": False,
                "max_seq_length": None, "do_lower_case": False}
    modules = _read_json(modules_file)
    if not isinstance(modules, list) or not all(isinstance(m, dict) and "type" in m for m in modules):
        raise ValueError(f"{modules_file} must be a list of {{'type': ..., 'path': ...}} entries")
    by_kind = {}
    for module in sorted(modules, key=lambda m: m.get("idx", 0)):
        kind = module["type"].rsplit(".", 1)[-1]
        if kind not in KNOWN_MODULES:
            raise ValueError(
                f"{modules_file} names a {module['type']} module; SentenceEncoder reads only {', '.join(KNOWN_MODULES)}"
            )
        by_kind[kind] = module.get("path", "")
    if "Transformer" not in by_kind:
        raise ValueError(f"{modules_file} has no Transformer module: there is no encoder to run")

    transformer_path = name_or_path
    if by_kind["Transformer"]:  # older layouts keep the encoder in a subdirectory such as 0_Transformer
        if not Path(name_or_path).is_dir():
            raise ValueError(f"{name_or_path}: an encoder in the subfolder {by_kind['Transformer']!r} is read from local directories only")
        transformer_path = Path(name_or_path) / by_kind["Transformer"]
    settings_file = resolve_file(transformer_path, "sentence_bert_config.json", required=False, **hub)
    settings = _read_json(settings_file) if settings_file else {}
    pooling = Pooling(("mean",))
    if "Pooling" in by_kind:
        pooling = Pooling.from_file(resolve_file(name_or_path, f"{by_kind['Pooling']}/config.json", **hub))
    return {"transformer_path": transformer_path, "pooling": pooling, "normalize": "Normalize" in by_kind,
            "max_seq_length": settings.get("max_seq_length"), "do_lower_case": bool(settings.get("do_lower_case", False))}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
