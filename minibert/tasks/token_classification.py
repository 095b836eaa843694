"""Token classification (named-entity recognition): one tag per word, trained and read back.

Training (`minibert train --task token-classification`). Sentences come as words with tags
(minibert.tasks.conll). The tokenizer splits words into pieces, so tags must be placed on
pieces; as in the BERT paper (section 5.3), a word's tag goes on its *first* piece, and its
other pieces and the special tokens get -100, which the loss skips:

    words          Angela  Merkel         visited  Pyongyang
    pieces   [CLS] angela  mer    ##kel   visited  p      ##yon  ##gy  ##ang  [SEP]
    labels   -100  B-PER   I-PER  -100    O        B-LOC  -100   -100  -100   -100

(`label_all_tokens=True` labels the other pieces too: B-X continues as I-X.) A sentence
longer than `max_length` pieces is read in windows that overlap by `stride` pieces; each word
is labelled, and later predicted, in exactly one window: of the windows holding its first
piece, the one where that piece has the most context on its shorter side. Scores are taken
per word (the first piece's prediction), so they are the CoNLL scores of the words as given:
entity precision, recall and F1 (minibert.metrics.entity_scores) and tag accuracy.

Inference (the token-classification pipeline, `minibert predict`): from the probabilities of
each piece to entities with character spans, as transformers' token-classification pipeline
defines it (tests/test_pipelines_token_classification.py checks the results against it):

1. `token_predictions`: one entry per word piece that is not a special token: its vocabulary
   token ("##ing"), its characters in the text (start, end), its probabilities, and whether it
   continues a word ("is_subword": the piece is longer than the text it covers, which is what
   the "##" prefix does; an [UNK] piece shows the text itself and starts a word).
2. `aggregate` with a strategy:
     none     every piece with its best label (`entity`, `score`, `index`, `word`, `start`, `end`);
     simple   neighbouring pieces with the same entity type grouped (`entity_group`), B- opening a
              new group, the score the mean of the pieces' scores;
     first    each word takes the label of its first piece (the piece that was trained),
     average  ... the best label of its pieces' mean probabilities,
     max      ... the label of its single most confident piece,
              and the words are then grouped as in "simple".
   Pieces or words labelled "O" (`ignore_labels`) are left out at the end.
3. `merge_windows`: when a long text was read in overlapping windows, an entity found twice
   (or two overlapping ones) is kept once: the longer, or at equal length the more confident.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from minibert import metrics
from minibert.data import DataError
from minibert.heads import BertForTokenClassification
from minibert.tasks import conll
from minibert.tasks.base import IGNORE_INDEX, Feature, Task
from minibert.tasks.conll import TaggedSentence

# ---------------------------------------------------------------------------------------
# Training: words and tags -> features; predictions -> word tags -> scores
# ---------------------------------------------------------------------------------------


class TokenClassification(Task):
    name = "token-classification"
    model_class = BertForTokenClassification
    metric = "f1"  # entity F1, micro-averaged over the types
    outputs = ("logits",)
    token_outputs = ("logits",)
    default_max_length = 128

    def __init__(self, words_column: str = "words", tags_column: str = "ner", tag_names: Sequence[str] | None = None,
                 label_all_tokens: bool = False, stride: int | None = None):
        self.words_column, self.tags_column = words_column, tags_column
        self.tag_names = list(tag_names) if tag_names is not None else None
        self.label_all_tokens, self.stride = label_all_tokens, stride

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--words-column", default="words", help="JSON Lines: the key of the word list (default: words)")
        parser.add_argument("--tags-column", default="ner", help="JSON Lines: the key of the tag list (default: ner)")
        parser.add_argument("--tag-names", help="JSON Lines with integer tags: the tag of each integer, comma-separated "
                            "(e.g. O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC,B-MISC,I-MISC)")
        parser.add_argument("--label-all-tokens", action="store_true",
                            help="train on every piece of a word, not only the first (B- continues as I-)")
        parser.add_argument("--stride", type=int, help="pieces shared by the overlapping windows of a sentence longer "
                            "than --max-length (default: a quarter of the window)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TokenClassification":
        names = [n.strip() for n in args.tag_names.split(",")] if args.tag_names else None
        return cls(args.words_column, args.tags_column, names, args.label_all_tokens, args.stride)

    def read_examples(self, path) -> list[TaggedSentence]:
        return conll.read_tagged(path, self.words_column, self.tags_column, self.tag_names)

    def label_names(self, train_examples: Sequence[TaggedSentence], eval_examples: Sequence[TaggedSentence] = ()) -> list[str]:
        conll.scheme([*train_examples, *eval_examples])  # one scheme throughout, or a DataError
        return conll.tag_names(train_examples, eval_examples)

    def describe_data(self, train_examples: Sequence[TaggedSentence]) -> str:
        return f"tagging scheme {conll.scheme(train_examples)}"

    def features(self, examples: Sequence[TaggedSentence], tokenizer, max_length: int,
                 label2id: dict[str, int] | None) -> list[Feature]:
        return encode(examples, tokenizer, max_length, label2id, self.stride, self.label_all_tokens)

    def compute_metrics(self, outputs: dict[str, list[torch.Tensor]], features: Sequence[Feature], config) -> dict[str, float]:
        scores = self.report(outputs, features, config)
        return {k: v for k, v in scores.items() if k in ("precision", "recall", "f1", "accuracy")}

    def report(self, outputs: dict[str, list[torch.Tensor]], features: Sequence[Feature], config) -> dict:
        """entity_scores of the predicted word tags against the gold ones: micro precision,
        recall, F1, support, tag accuracy and `per_type`."""
        id2label = config.id2label
        predicted = word_predictions(outputs["logits"], features)
        gold: dict[int, list[int]] = {f["example"]: f["word_labels"] for f in features}
        examples = sorted(gold)
        return metrics.entity_scores(
            [[id2label[t] for t in gold[e]] for e in examples],
            [[id2label[t] if t is not None else "O" for t in predicted[e]] for e in examples],
        )


def encode(
    sentences: Sequence[TaggedSentence],
    tokenizer,
    max_length: int,
    label2id: dict[str, int] | None = None,
    stride: int | None = None,
    label_all_tokens: bool = False,
) -> list[Feature]:
    """Features of tagged (or untagged) sentences; see the module docstring.

    A feature holds the model inputs, `labels` when `label2id` is given, and metadata:
    `example` (the sentence's index), `words` (its number of words), `word_positions`
    ([(piece position, word index)] of the words this window predicts) and, with labels,
    `word_labels` (the tag id of every word of the sentence)."""
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 (two special tokens and one piece), got {max_length}")
    room = max_length - tokenizer.num_special_tokens_to_add()
    stride = room // 4 if stride is None else stride
    if not 0 <= stride < room:
        raise ValueError(f"stride must be at least 0 and less than {room} (max_length {max_length} less the special "
                         f"tokens), got {stride}")
    encoded = tokenizer([s.words for s in sentences], is_split_into_words=True, truncation=True, max_length=max_length,
                        stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True)
    rows_of: dict[int, list[int]] = defaultdict(list)
    for row, example in enumerate(encoded["overflow_to_sample_mapping"]):
        rows_of[example].append(row)
    features = []
    for example, rows in sorted(rows_of.items()):
        sentence = sentences[example]
        if label2id is not None:
            unknown = [t for t in sentence.tags if t not in label2id]
            if unknown:
                raise DataError(f"{sentence.where or f'sentence {example}'}: the tag {unknown[0]!r} is not one the model "
                                f"was trained on ({', '.join(label2id)})")
            tag_ids = [label2id[t] for t in sentence.tags]
        windows = [(encoded.word_ids(row), encoded["offset_mapping"][row]) for row in rows]
        owner = owning_windows(windows)  # word -> (window, position of its first piece there)
        for k, row in enumerate(rows):
            word_ids = windows[k][0]
            positions = [(p, w) for w, (window, p) in sorted(owner.items()) if window == k]
            feature = {
                "input_ids": list(encoded["input_ids"][row]),
                "token_type_ids": list(encoded["token_type_ids"][row]),
                "example": example,
                "words": len(sentence.words),
                "word_positions": positions,
            }
            if label2id is not None:
                labels = [IGNORE_INDEX] * len(word_ids)
                for p, w in positions:
                    labels[p] = tag_ids[w]
                    if label_all_tokens:  # the word's other pieces in this window continue its tag
                        following = continuation(sentence.tags[w], label2id)
                        for q in range(p + 1, len(word_ids)):
                            if word_ids[q] != w:
                                break
                            labels[q] = following
                feature["labels"] = labels
                feature["word_labels"] = tag_ids
            features.append(feature)
    return features


def owning_windows(windows: Sequence[tuple[list[int | None], list[tuple[int, int]]]]) -> dict[int, tuple[int, int]]:
    """For each word, the window that predicts it and the position of its first piece there.

    `windows`: (word id of each piece, offsets of each piece within its word) per window. A
    window may start in the middle of a word, so a word's first piece is told by its offset
    (the smallest start among the word's pieces), not by being the first piece seen. Of the
    windows that hold it, the one where it has the most pieces on its shorter side wins (the
    first of equals): the rule BERT used for the windows of long SQuAD documents."""
    first_start: dict[int, int] = {}
    for word_ids, offsets in windows:
        for w, (start, _) in zip(word_ids, offsets):
            if w is not None:
                first_start[w] = min(first_start.get(w, start), start)
    best: dict[int, tuple[int, int, int]] = {}  # word -> (context, window, position)
    for k, (word_ids, offsets) in enumerate(windows):
        content = [p for p, w in enumerate(word_ids) if w is not None]
        if not content:
            continue  # a sentence whose words are all dropped by the tokenizer (control characters)
        left_end, right_end = content[0], content[-1]
        for p in content:
            w = word_ids[p]
            if offsets[p][0] != first_start[w] or (p > left_end and word_ids[p - 1] == w):
                continue  # not the word's first piece
            context = min(p - left_end, right_end - p)
            if w not in best or context > best[w][0]:
                best[w] = (context, k, p)
    return {w: (k, p) for w, (_, k, p) in best.items()}


def continuation(tag: str, label2id: dict[str, int]) -> int:
    """The label of a word's later pieces with label_all_tokens: B-X continues as I-X (when
    the tag set has it); every other tag as itself."""
    if tag.startswith("B-") and "I-" + tag[2:] in label2id:
        return label2id["I-" + tag[2:]]
    return label2id[tag]


def word_predictions(logits: Sequence[torch.Tensor], features: Sequence[Feature]) -> dict[int, list[int | None]]:
    """The predicted tag id of every word of every example (None: a word without pieces,
    e.g. one made only of characters the tokenizer drops). `logits[i]`: (S_i, num_labels) of
    feature i."""
    predicted: dict[int, list[int | None]] = {}
    for row_logits, feature in zip(logits, features):
        tags = predicted.setdefault(feature["example"], [None] * feature["words"])
        for p, w in feature["word_positions"]:
            tags[w] = int(row_logits[p].argmax())
    return predicted


# ---------------------------------------------------------------------------------------
# Inference: piece probabilities -> entities with character spans
# ---------------------------------------------------------------------------------------


STRATEGIES = ("none", "simple", "first", "average", "max")


@dataclass
class TokenPrediction:
    index: int  # position in the model input (0 is [CLS])
    word: str  # the vocabulary token, e.g. "##ing"; for [UNK], the text it stands for
    start: int  # characters text[start:end]
    end: int
    probabilities: torch.Tensor  # (num_labels,) softmax of the logits
    is_subword: bool  # continues the word of the piece before it


def token_predictions(
    text: str,
    tokens: Sequence[str],
    offsets: Sequence[tuple[int, int]],
    special: Sequence[int],
    logits: torch.Tensor,
    unk_token: str,
) -> list[TokenPrediction]:
    """The pieces of one input (or window) with their probabilities. `tokens`: the input's
    vocabulary tokens; `special`: 1 for [CLS], [SEP] (and padding); `logits`: (T, num_labels)."""
    probabilities = torch.softmax(logits.float(), dim=-1)  # (T, num_labels)
    pieces = []
    for index, (token, (start, end), is_special) in enumerate(zip(tokens, offsets, special)):
        if is_special:
            continue
        covered = text[start:end]
        if token == unk_token:
            pieces.append(TokenPrediction(index, covered, start, end, probabilities[index], False))
        else:
            pieces.append(TokenPrediction(index, token, start, end, probabilities[index], len(token) != len(covered)))
    return pieces


def aggregate(
    pieces: Sequence[TokenPrediction],
    id2label: dict[int, str],
    strategy: str = "none",
    join: Callable[[list[str]], str] = " ".join,
    ignore_labels: Sequence[str] = ("O",),
) -> list[dict]:
    """Entities of one input (or window); see the module docstring. `join`: the tokenizer's
    `convert_tokens_to_string`, which glues "##" pieces back into words."""
    if strategy not in STRATEGIES:
        raise ValueError(f"aggregation_strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if strategy in ("none", "simple"):
        labelled = []
        for piece in pieces:
            score, best = piece.probabilities.max(dim=-1)
            labelled.append({"entity": id2label[int(best)], "score": float(score), "index": piece.index,
                             "word": piece.word, "start": piece.start, "end": piece.end})
    else:
        labelled = [label_word(word, id2label, strategy, join) for word in words_of(pieces)]
    if strategy != "none":
        labelled = group_entities(labelled, join)
    key = "entity" if strategy == "none" else "entity_group"
    return [e for e in labelled if e[key] not in ignore_labels]


def words_of(pieces: Sequence[TokenPrediction]) -> list[list[TokenPrediction]]:
    """Pieces grouped into words: a piece that is not a subword starts a new one."""
    words: list[list[TokenPrediction]] = []
    for piece in pieces:
        if words and piece.is_subword:
            words[-1].append(piece)
        else:
            words.append([piece])
    return words


def label_word(word: Sequence[TokenPrediction], id2label: dict[int, str], strategy: str, join) -> dict:
    """One label and score for a word of one or more pieces, by the first, average or max rule."""
    if strategy == "first":
        probabilities = word[0].probabilities
    elif strategy == "max":
        probabilities = max(word, key=lambda piece: float(piece.probabilities.max())).probabilities
    else:  # average
        probabilities = torch.stack([piece.probabilities for piece in word]).mean(dim=0)
    score, best = probabilities.max(dim=-1)
    return {"entity": id2label[int(best)], "score": float(score), "word": join([piece.word for piece in word]),
            "start": word[0].start, "end": word[-1].end}


def split_label(label: str) -> tuple[str, str]:
    """"B-PER" -> ("B", "PER"), "I-PER" -> ("I", "PER"); any other label continues as itself
    ("O" -> ("I", "O"), "E-PER" -> ("I", "E-PER")): the pipeline's reading, kept for parity."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label


def group_entities(labelled: Sequence[dict], join) -> list[dict]:
    """Neighbours (pieces or words) of one type grouped, a B- label opening a new group. The
    group's type is its first label without the prefix; its score the mean of its members'."""
    groups: list[list[dict]] = []
    for entity in labelled:
        prefix, kind = split_label(entity["entity"])
        if groups and prefix != "B" and kind == split_label(groups[-1][-1]["entity"])[1]:
            groups[-1].append(entity)
        else:
            groups.append([entity])
    return [
        {
            "entity_group": group[0]["entity"].split("-", 1)[-1],
            "score": sum(e["score"] for e in group) / len(group),
            "word": join([e["word"] for e in group]),
            "start": group[0]["start"],
            "end": group[-1]["end"],
        }
        for group in groups
    ]


def merge_windows(entities: Sequence[dict]) -> list[dict]:
    """Entities from overlapping windows of one text, each kept once: of entities that overlap
    (in the order of their start), the longer one wins, at equal length the higher score."""
    kept: list[dict] = []
    for entity in sorted(entities, key=lambda e: e["start"]):
        last = kept[-1] if kept else None
        if last is not None and last["start"] <= entity["start"] < last["end"]:
            length, last_length = entity["end"] - entity["start"], last["end"] - last["start"]
            if length > last_length or (length == last_length and entity["score"] > last["score"]):
                kept[-1] = entity
        else:
            kept.append(entity)
    return kept
