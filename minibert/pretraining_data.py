"""Pre-training data: raw text -> sentence pairs for next-sentence prediction -> masked batches.

BERT's two pre-training tasks (Devlin et al. 2018, section 3.1) need:

* Next-sentence prediction (NSP): pairs "[CLS] A [SEP] B [SEP]" where half the time B is
  the text that follows A in its document (label 0) and half the time a segment taken from
  another document (label 1). `PretrainingDataset` builds them, packing whole lines of a
  document until the pair fills `max_length`, as the original `create_pretraining_data.py`.
* Masked language modelling (MLM): 15% of the real (non-special, non-padding) tokens are
  chosen for prediction; of those 80% become [MASK], 10% a random token and 10% stay as
  they are, so the model cannot learn that only [MASK] positions matter. Labels hold the
  original id at chosen positions and -100 (ignored by the loss) everywhere else.
  `DataCollatorForLanguageModeling` does this per batch, on the fly, so each epoch sees
  other masks.

The corpus is streamed: files are read line by line and only `buffer_size` documents are
held at once (they also shuffle the order documents come out in, and are where the random
"other document" segments come from). Everything is drawn from a `random.Random` seeded by
(seed, epoch, rank), so a seed gives the same examples every time. With several processes,
document j goes to rank j % world_size: each rank tokenizes only its own shard.
"""

from __future__ import annotations

import codecs
import os
import random
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

IGNORE_INDEX = -100  # cross-entropy's ignore_index: positions that are not predicted


# ---------------------------------------------------------------------------------------
# Documents from text files
# ---------------------------------------------------------------------------------------


# In a directory, only these are read (with files without a suffix, e.g. WikiExtractor's
# wiki_00), so that a model's weights, configs or logs beside the text are not trained on.
TEXT_SUFFIXES = (".txt", ".text")
_SNIFF_BYTES = 8192


class CorpusError(ValueError):
    """A corpus that cannot be used: missing, not text, not UTF-8, or without documents."""


def find_corpus_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> tuple[list[Path], list[Path]]:
    """(text files to read, files skipped). Files given directly are read whatever their
    name, if they are text; inside given directories (recursively, sorted), the files named
    *.txt, *.text or without a suffix are, and the others are skipped."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    skipped: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            text = [p for p in inside if p.suffix.lower() in TEXT_SUFFIXES + ("",)]
            if not text:
                found = f"; it holds {_some_names(inside)}" if inside else ""
                raise CorpusError(f"corpus directory {path} holds no text files (*.txt, *.text){found}")
            files += text
            skipped += [p for p in inside if p not in text]
        elif path.is_file():
            files.append(path)
        else:
            raise CorpusError(f"corpus path {path} does not exist; pass text files or directories of text files")
    if not files:
        raise CorpusError("no corpus files given")
    for path in files:
        with open(path, "rb") as f:
            if b"\0" in f.read(_SNIFF_BYTES):
                raise CorpusError(f"{path} is not a text file (it holds NUL bytes): a corpus is plain UTF-8 text")
    return files, skipped


def corpus_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """The text files of `paths` (see `find_corpus_files`)."""
    return find_corpus_files(paths)[0]


def _some_names(paths: Sequence[Path], most: int = 5) -> str:
    names = ", ".join(p.name for p in paths[:most])
    return names + (f" and {len(paths) - most} more" if len(paths) > most else "")


def read_documents(files: Sequence[Path], one_document_per_file: bool = False) -> Iterator[list[str]]:
    """Documents as lists of non-empty lines, read lazily.

    By default a blank line ends a document (the format of BERT's own pre-training data);
    with `one_document_per_file` each file is one document and blank lines are ignored.
    Files are UTF-8 (a byte-order mark is skipped); undecodable bytes are a CorpusError that
    names the file and the byte offset, never replaced in silence.
    """
    for path in files:
        document: list[str] = []
        # Bytes, split on b"\n" only (which never occurs inside a UTF-8 sequence), so that a
        # decoding error can say at which byte of the file it is.
        with open(path, "rb") as f:
            end = 0
            for raw in f:
                start, end = end, end + len(raw)
                if start == 0 and raw.startswith(codecs.BOM_UTF8):
                    raw, start = raw[len(codecs.BOM_UTF8):], len(codecs.BOM_UTF8)
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError as exc:
                    raise CorpusError(
                        f"{path} is not UTF-8 text ({exc.reason} at byte {start + exc.start}); "
                        "convert it to UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                    ) from None
                if line:
                    document.append(line)
                elif document and not one_document_per_file:
                    yield document
                    document = []
        if document:
            yield document


def count_documents(files: Sequence[Path], one_document_per_file: bool = False) -> int:
    """How many documents `read_documents` yields: reads (and so checks) the whole corpus."""
    return sum(1 for _ in read_documents(files, one_document_per_file))


# ---------------------------------------------------------------------------------------
# Sentence pairs for next-sentence prediction
# ---------------------------------------------------------------------------------------


class PretrainingDataset(torch.utils.data.IterableDataset):
    """One pass over the corpus (an epoch) yields dicts of `input_ids`, `token_type_ids`
    (lists of ints) and `next_sentence_label` (0 = B follows A, 1 = B is random).

    With `next_sentence=False` (masked-LM only, as for BertForMaskedLM) it yields single
    segments "[CLS] text [SEP]" packed the same way, without a label.

    `set_epoch(n)` changes the order and the pairs, as DistributedSampler.set_epoch does.
    The tokenizer needs `tokenize`, `convert_tokens_to_ids`, `cls_token_id` and `sep_token_id`.
    """

    def __init__(
        self,
        paths: str | os.PathLike | Iterable[str | os.PathLike],
        tokenizer: Any,
        max_length: int = 128,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        one_document_per_file: bool = False,
        short_seq_prob: float = 0.1,
        buffer_size: int = 1000,
        pool_size: int = 10000,
        next_sentence: bool = True,
    ):
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8 to hold [CLS] A [SEP] B [SEP], got {max_length}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}")
        if not 0.0 <= short_seq_prob <= 1.0:
            raise ValueError(f"short_seq_prob must be a probability, got {short_seq_prob}")
        if buffer_size < 1 or pool_size < 2:
            raise ValueError("buffer_size must be >= 1 and pool_size >= 2")
        self.files = corpus_files(paths)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.one_document_per_file = one_document_per_file
        self.short_seq_prob = short_seq_prob
        self.buffer_size, self.pool_size = buffer_size, pool_size
        self.next_sentence = next_sentence
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _tokenize(self, line: str) -> list[int]:
        return self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(line))

    def _my_documents(self) -> Iterator[list[list[int]]]:
        """This rank's documents, tokenized line by line (empty lines dropped)."""
        for j, document in enumerate(read_documents(self.files, self.one_document_per_file)):
            if j % self.world_size != self.rank:
                continue  # another rank's shard: not even tokenized
            segments = [ids for ids in map(self._tokenize, document) if ids]
            if segments:
                yield segments

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rng = random.Random(f"minibert-pretraining-{self.seed}-{self.epoch}-{self.rank}")
        # (document number, segment) of recently read documents: where random B segments come from.
        pool: deque[tuple[int, list[int]]] = deque(maxlen=self.pool_size)
        # Documents read ahead; taking a random one out shuffles the order within the window.
        buffer: list[tuple[int, list[list[int]]]] = []
        stream = enumerate(self._my_documents())
        exhausted = False
        while True:
            while not exhausted and len(buffer) < self.buffer_size:
                item = next(stream, None)
                if item is None:
                    exhausted = True
                else:
                    buffer.append(item)
                    pool.extend((item[0], s) for s in item[1])
            if not buffer:
                return
            # Swap-and-pop keeps the choice O(1).
            k = rng.randrange(len(buffer))
            buffer[k], buffer[-1] = buffer[-1], buffer[k]
            doc_id, segments = buffer.pop()
            if self.next_sentence:
                yield from self._document_examples(doc_id, segments, pool, rng)
            else:
                yield from self._single_segments(segments, rng)

    def _document_examples(
        self, doc_id: int, segments: list[list[int]], pool: deque, rng: random.Random
    ) -> Iterator[dict[str, Any]]:
        """Pack consecutive lines of one document into pairs, as create_pretraining_data.py does."""
        max_tokens = self.max_length - 3  # room for [CLS], [SEP], [SEP]
        target = self._target_length(max_tokens, rng)
        chunk: list[list[int]] = []
        length = 0
        i = 0
        while i < len(segments):
            chunk.append(segments[i])
            length += len(segments[i])
            if i == len(segments) - 1 or length >= target:
                is_random = rng.random() < 0.5
                if len(chunk) >= 2:
                    a_end = rng.randint(1, len(chunk) - 1)  # A = the first a_end lines of the chunk
                    a = [t for s in chunk[:a_end] for t in s]
                    b_true = [t for s in chunk[a_end:] for t in s]
                else:
                    # One long line: its first part is A and its true continuation is the rest.
                    tokens = chunk[0]
                    a_end = 1
                    cut = rng.randint(1, len(tokens) - 1) if len(tokens) >= 2 else 1
                    a, b_true = tokens[:cut], tokens[cut:]
                if is_random:
                    b = self._random_segment(doc_id, max(1, target - len(a)), pool, rng)
                    # The lines of the chunk that B would have been are not wasted: they start the next chunk.
                    i -= len(chunk) - a_end
                elif b_true:
                    b = b_true
                else:
                    # A one-token document has no continuation to show.
                    b = self._random_segment(doc_id, max(1, target - len(a)), pool, rng)
                    is_random = True
                a, b = list(a), list(b)
                truncate_pair(a, b, max_tokens, rng)
                yield self._example(a, b, int(is_random))
                chunk, length = [], 0
                target = self._target_length(max_tokens, rng)
            i += 1

    def _single_segments(self, segments: list[list[int]], rng: random.Random) -> Iterator[dict[str, Any]]:
        """Without NSP: "[CLS] text [SEP]", consecutive lines of one document packed to the target."""
        max_tokens = self.max_length - 2
        target = self._target_length(max_tokens, rng)
        chunk: list[int] = []
        for i, segment in enumerate(segments):
            chunk += segment
            if i == len(segments) - 1 or len(chunk) >= target:
                yield self._example(chunk[:max_tokens], None, None)
                chunk = []
                target = self._target_length(max_tokens, rng)

    def _target_length(self, max_tokens: int, rng: random.Random) -> int:
        # Mostly full-length pairs; sometimes shorter ones, so the model also sees short inputs.
        return rng.randint(2, max_tokens) if rng.random() < self.short_seq_prob else max_tokens

    def _random_segment(self, doc_id: int, target: int, pool: deque, rng: random.Random) -> list[int]:
        """Consecutive lines from another document, starting at a random pooled line."""
        for _ in range(10):
            j = rng.randrange(len(pool))
            if pool[j][0] != doc_id:
                break
        else:
            others = [j for j, (d, _) in enumerate(pool) if d != doc_id]
            if not others:
                where = f" (process {self.rank} of {self.world_size} reads every {self.world_size}th document)" \
                    if self.world_size > 1 else ""
                raise CorpusError(
                    f"next-sentence prediction needs at least two documents, but the corpus has only one{where}: "
                    "separate documents with blank lines, give one document per file (one_document_per_file=True), "
                    "or train masked-LM only (next_sentence=False)"
                )
            j = rng.choice(others)
        other = pool[j][0]
        segment: list[int] = []
        while j < len(pool) and pool[j][0] == other and len(segment) < target:
            segment += pool[j][1]
            j += 1
        return segment

    def _example(self, a: list[int], b: list[int] | None, label: int | None) -> dict[str, Any]:
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        if b is None:
            return {"input_ids": [cls, *a, sep], "token_type_ids": [0] * (len(a) + 2)}
        return {
            "input_ids": [cls, *a, sep, *b, sep],
            "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1),
            "next_sentence_label": label,
        }


def truncate_pair(a: list[int], b: list[int], max_tokens: int, rng: random.Random) -> None:
    """Trim the longer of A and B, one token at a time from a random end, until both fit.

    From the front or the back at random, as the original does, so the model does not learn
    that segments always end (or begin) at a sentence boundary. Each keeps at least one token.
    """
    while len(a) + len(b) > max_tokens:
        longer = a if len(a) > len(b) else b
        if len(longer) <= 1:
            break
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


# ---------------------------------------------------------------------------------------
# Masked language modelling
# ---------------------------------------------------------------------------------------


class DataCollatorForLanguageModeling:
    """Pads a list of examples into a batch and masks it for MLM (BERT section 3.1, "Task #1").

    Each real token is chosen with probability `mlm_probability`; with `whole_word_mask`,
    each word is, and a word's `##` pieces follow its first piece. A chosen token becomes
    [MASK] with probability 0.8, a uniformly random token with 0.1, and stays with 0.1.
    Special tokens ([CLS], [SEP], ...) and padding are never chosen.

    Returns `input_ids`, `token_type_ids`, `attention_mask`, `labels` and, when the examples
    have one, `next_sentence_label`: the keyword arguments of BertForPreTraining.
    Pass a `torch.Generator` to make the masks reproducible (and to save its state for an
    exact resume).
    """

    def __init__(
        self,
        tokenizer: Any,
        mlm_probability: float = 0.15,
        whole_word_mask: bool = False,
        generator: torch.Generator | None = None,
    ):
        if not 0.0 < mlm_probability < 1.0:
            raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability}")
        for name in ("pad_token_id", "mask_token_id"):
            if getattr(tokenizer, name, None) is None:
                raise ValueError(f"the tokenizer has no {name}; masked-LM needs a vocabulary with [PAD] and [MASK]")
        self.tokenizer = tokenizer
        self.mlm_probability = mlm_probability
        self.whole_word_mask = whole_word_mask
        self.generator = generator
        self.vocab_size = int(tokenizer.vocab_size)
        self.pad_token_id = int(tokenizer.pad_token_id)
        self.mask_token_id = int(tokenizer.mask_token_id)
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids) | {self.pad_token_id}))
        self.is_continuation: torch.Tensor | None = None
        if whole_word_mask:
            tokens = tokenizer.convert_ids_to_tokens(list(range(self.vocab_size)))
            self.is_continuation = torch.tensor([t.startswith("##") for t in tokens])  # (V,)

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("cannot collate an empty list of examples")
        length = max(len(e["input_ids"]) for e in examples)
        B = len(examples)
        input_ids = torch.full((B, length), self.pad_token_id, dtype=torch.long)
        token_type_ids = torch.zeros((B, length), dtype=torch.long)
        attention_mask = torch.zeros((B, length), dtype=torch.long)
        for row, example in enumerate(examples):
            n = len(example["input_ids"])
            input_ids[row, :n] = torch.as_tensor(example["input_ids"])
            if "token_type_ids" in example:
                token_type_ids[row, :n] = torch.as_tensor(example["token_type_ids"])
            attention_mask[row, :n] = 1
        input_ids, labels = self.mask_tokens(input_ids, attention_mask)
        batch = {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask, "labels": labels}
        if "next_sentence_label" in examples[0]:
            batch["next_sentence_label"] = torch.tensor([int(e["next_sentence_label"]) for e in examples])
        return batch

    def mask_tokens(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) ids -> (masked ids, labels). The input is not modified."""
        g = self.generator
        candidates = ~torch.isin(input_ids, self.special_ids)  # (B, S): real, non-special tokens
        if attention_mask is not None:
            candidates &= attention_mask.bool()
        if self.whole_word_mask:
            # Number the words of each row: a new word starts at every token that is not a ## piece.
            starts = ~self.is_continuation[input_ids] | ~candidates  # (B, S)
            word = starts.long().cumsum(dim=1) - 1  # (B, S): word index of each token
            word_chosen = torch.rand(input_ids.shape, generator=g) < self.mlm_probability  # (B, S): one draw per word index
            chosen = word_chosen.gather(1, word) & candidates
        else:
            chosen = (torch.rand(input_ids.shape, generator=g) < self.mlm_probability) & candidates
        labels = torch.where(chosen, input_ids, IGNORE_INDEX)

        # Of the chosen: 80% -> [MASK]; half of the remaining 20% -> a random token; the rest unchanged.
        decision = torch.rand(input_ids.shape, generator=g)  # (B, S)
        masked = input_ids.clone()
        masked[chosen & (decision < 0.8)] = self.mask_token_id
        to_random = chosen & (decision >= 0.8) & (decision < 0.9)
        masked[to_random] = torch.randint(self.vocab_size, input_ids.shape, generator=g)[to_random]
        return masked, labels
