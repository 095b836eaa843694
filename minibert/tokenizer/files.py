"""The files a BERT tokenizer is saved as, in the Hugging Face layout.

- `vocab.txt`: one token per line, its id the line number (from 0);
- `tokenizer_config.json` and `special_tokens_map.json`: the settings and special tokens;
- `added_tokens.json`: tokens added after training, with ids after vocab.txt's;
- `tokenizer.json`: the `tokenizers` library's single file, read here only for its vocabulary
  when a repository has no vocab.txt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from minibert.hub import resolve_file
from minibert.weights import atomic_write_text
from minibert.tokenizer.encoding import VERY_LARGE_INTEGER, is_int

VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
TOKENIZER_FILE = "tokenizer.json"

SPECIAL_TOKEN_NAMES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
HUB_OPTIONS = ("cache_dir", "revision", "token", "local_files_only")
# The settings of tokenizer_config.json that BertTokenizer takes; others are ignored.
SETTINGS = (
    "do_lower_case", "do_basic_tokenize", "never_split", "tokenize_chinese_chars", "strip_accents",
    "model_max_length", "padding_side", "truncation_side", "additional_special_tokens",
    "clean_up_tokenization_spaces", *SPECIAL_TOKEN_NAMES,
)


def load_vocab(vocab: str | os.PathLike | Mapping[str, int]) -> dict[str, int]:
    """token -> id from a dict, or from a vocab.txt (its path, or a directory holding one)."""
    if isinstance(vocab, Mapping):
        if not vocab:
            raise ValueError("the vocabulary is empty: pass a dict of token -> id, or the path of a vocab.txt")
        result, tokens_of_id = {}, {}
        for token, index in vocab.items():
            if not isinstance(token, str) or not is_int(index) or int(index) < 0:
                raise TypeError(f"a vocabulary maps tokens (str) to ids (int >= 0); got {token!r}: {index!r}")
            if int(index) in tokens_of_id:
                raise ValueError(f"the vocabulary gives id {int(index)} to both {tokens_of_id[int(index)]!r} and {token!r}")
            tokens_of_id[int(index)] = token
            result[token] = int(index)
        return result
    if not isinstance(vocab, (str, os.PathLike)):
        raise TypeError(f"vocab must be the path of a vocab.txt or a dict of token -> id, got {type(vocab).__name__}")
    path = Path(vocab)
    if path.is_dir():
        path = path / VOCAB_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no vocabulary file at {path}: pass the path of a vocab.txt (one token per line)")
    try:
        # utf-8-sig: a byte-order mark some editors write would otherwise stick to the first token.
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text, so it is not a vocab.txt") from None
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise ValueError(f"{path} is empty: a vocab.txt has one token per line")
    result: dict[str, int] = {}
    for index, line in enumerate(lines):
        token = line.rstrip("\r")
        if token in result:
            # A second copy would take a new id, past the rows of the model's embedding.
            raise ValueError(
                f"{path}, line {index + 1}: the token {token!r} is already on line {result[token] + 1}; "
                "each token of a vocab.txt must be on one line only"
            )
        result[token] = index
    return result


def vocab_from_tokenizer_json(path: Path) -> dict[str, int]:
    data = read_json(path)
    try:
        return load_vocab(dict(data["model"]["vocab"]))
    except (KeyError, TypeError):
        raise ValueError(f"{path} has no WordPiece vocabulary (model.vocab)") from None


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} should hold a JSON object")
    return data


def read_tokenizer_files(name_or_path: str | os.PathLike, hub: dict[str, Any]):
    """What a saved tokenizer is made of: (its vocabulary, the BertTokenizer settings its
    config files give, its added tokens as token -> id, the added tokens that are special)."""
    vocab_path = resolve_file(name_or_path, VOCAB_FILE, required=False, **hub)
    vocab: Any = vocab_path
    if vocab_path is None:
        # A tokenizer.json alone (some Hub repositories) holds the vocabulary too.
        tokenizer_json = resolve_file(name_or_path, TOKENIZER_FILE, required=False, **hub)
        if tokenizer_json is None:
            resolve_file(name_or_path, VOCAB_FILE, **hub)  # raises the usual clear error
        vocab = vocab_from_tokenizer_json(tokenizer_json)
    settings: dict[str, Any] = {}
    for filename in (SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE):
        path = resolve_file(name_or_path, filename, required=False, **hub)
        if path is not None:
            settings.update(read_json(path))
    added: dict[str, int] = {}
    decoder = settings.pop("added_tokens_decoder", None) or {}
    special_added: set[str] = set()
    for index, entry in decoder.items():
        content = entry["content"] if isinstance(entry, dict) else str(entry)
        added[content] = int(index)
        if isinstance(entry, dict) and entry.get("special"):
            special_added.add(content)
    path = resolve_file(name_or_path, ADDED_TOKENS_FILE, required=False, **hub)
    if path is not None:
        added.update({str(k): int(v) for k, v in read_json(path).items()})
    init = {}
    for key, value in settings.items():
        if key in SETTINGS:
            if isinstance(value, dict) and "content" in value:  # AddedToken saved as a dict
                value = value["content"]
            if key == "additional_special_tokens" and value:
                value = [v["content"] if isinstance(v, dict) else v for v in value]
            init[key] = value
    if init.get("model_max_length") is not None and init["model_max_length"] >= VERY_LARGE_INTEGER:
        init["model_max_length"] = None
    return vocab, init, added, special_added


def write_tokenizer_files(tokenizer, save_directory: str | os.PathLike) -> tuple[str, ...]:
    """Write a BertTokenizer as vocab.txt, tokenizer_config.json, special_tokens_map.json and
    (when it has new added tokens) added_tokens.json, each atomically."""
    directory = Path(save_directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory} is a file; save_pretrained needs a directory")
    directory.mkdir(parents=True, exist_ok=True)
    vocab = tokenizer.vocab
    # vocab.txt holds the base vocabulary; added tokens go to added_tokens.json.
    tokens = sorted(((t, i) for t, i in vocab.items() if i < tokenizer.vocab_size), key=lambda kv: kv[1])
    if [i for _, i in tokens] != list(range(len(tokens))):
        raise ValueError("the vocabulary's ids are not 0..N-1 without gaps, so it cannot be written as vocab.txt")
    specials = {name: getattr(tokenizer, name) for name in SPECIAL_TOKEN_NAMES}
    if tokenizer.additional_special_tokens:
        specials["additional_special_tokens"] = list(tokenizer.additional_special_tokens)
    special = set(tokenizer.all_special_tokens) | tokenizer.never_split  # matched as written: "normalized": false
    named = {t: vocab[t] for t in specials.values() if isinstance(t, str) and t in vocab}
    config = {
        "tokenizer_class": "BertTokenizer",
        **{key: getattr(tokenizer, key) for key in (
            "do_lower_case", "do_basic_tokenize", "tokenize_chinese_chars", "strip_accents",
            "model_max_length", "padding_side", "truncation_side", "clean_up_tokenization_spaces")},
        "never_split": sorted(tokenizer.never_split) or None,
        **specials,
        "added_tokens_decoder": {
            str(index): {
                "content": token, "lstrip": False, "rstrip": False, "normalized": token not in special,
                "single_word": False, "special": token in special,
            }
            for token, index in sorted({**named, **tokenizer.added_tokens}.items(), key=lambda kv: kv[1])
        },
    }
    written = [
        atomic_write_text(directory / VOCAB_FILE, "".join(t + "\n" for t, _ in tokens)),
        atomic_write_text(directory / TOKENIZER_CONFIG_FILE, json.dumps(config, indent=2, ensure_ascii=False) + "\n"),
        atomic_write_text(directory / SPECIAL_TOKENS_MAP_FILE, json.dumps(specials, indent=2, ensure_ascii=False) + "\n"),
    ]
    new = {t: i for t, i in tokenizer.added_tokens.items() if i >= tokenizer.vocab_size}
    if new:
        written.append(atomic_write_text(directory / ADDED_TOKENS_FILE, json.dumps(new, ensure_ascii=False) + "\n"))
    return tuple(str(p) for p in written)
