"""`minibert demo ner`: a subcommand of `minibert demo` (which alone still runs the sentiment
demo), its most-frequent-tag baseline, and (slow) the whole demo run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minibert.cli import build_parser
from minibert.commands import demo, demo_ner
from minibert.tasks.conll import TaggedSentence

REPO = Path(__file__).resolve().parents[1]


def test_demo_ner_is_a_subcommand_and_demo_alone_is_the_sentiment_demo():
    args = build_parser().parse_args(["demo", "ner", "--epochs", "2"])
    assert args.run is demo_ner.run and args.epochs == 2 and args.batch_size == 16
    args = build_parser().parse_args(["demo", "--epochs", "2"])
    assert args.run is demo.run and args.epochs == 2 and args.batch_size == 8  # the sentiment demo's own default


def test_the_baseline_gives_each_word_its_most_frequent_training_tag():
    train = [TaggedSentence(["Paris", "is", "big"], ["B-LOC", "O", "O"]), TaggedSentence(["Paris", "Hilton"], ["B-PER", "I-PER"]),
             TaggedSentence(["Paris"], ["B-LOC"])]
    dev = [TaggedSentence(["Paris", "Hilton", "is", "new"], ["B-PER", "I-PER", "O", "O"])]
    assert demo_ner.most_frequent_tag(train, dev) == [["B-LOC", "I-PER", "O", "O"]]


@pytest.mark.slow
def test_demo_ner_end_to_end_beats_the_baseline(tmp_path, minilm_dir):
    """Run as a user runs it (3 epochs instead of the default 6, to keep the suite short): the
    dev entity F1 it prints is well above the baseline it prints, and it tags the new sentences."""
    result = subprocess.run(
        [sys.executable, "-m", "minibert", "demo", "ner", "--epochs", "3"], capture_output=True, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}, timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    f1 = float(next(line for line in lines if line.startswith("dev entity F1: ")).split()[3])
    baseline = float(next(line for line in lines if line.startswith("baseline ")).split("entity F1 ")[1].split()[0])
    assert f1 >= baseline + 0.2, result.stdout
    assert [line.strip() for line in lines if line.startswith("  ") and not line.startswith("    ")] == demo_ner.NEW_SENTENCES
