"""Token classification (named-entity recognition): from per-token probabilities to entities.

A tagger scores every word piece; a user wants entities: "Angela Merkel" is a PER from
character 0 to 13. The steps, as transformers' token-classification pipeline defines them
(tests/test_tasks_token_classification.py checks the results against it):

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

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

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
