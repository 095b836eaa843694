"""`minibert evaluate`: score a fine-tuned model on a data file with answers.

    minibert evaluate --model reader --data dev.json                 # SQuAD exact match and F1
    minibert evaluate --model reader --data dev.json --json --predictions predictions.json

For a question-answering model (the only kind this command scores so far): the data is SQuAD
v1.1/v2.0 JSON or JSON Lines (minibert/squad.py); it prints exact match and F1 (with --json one
JSON object: exact_match, f1, total and, when the data has unanswerable questions, the
HasAns_* and NoAns_* parts), and --predictions writes the official {id: answer} JSON.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from minibert.commands import question_answering


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="score a fine-tuned question-answering model on SQuAD-format data (EM/F1)")
    p.add_argument("--model", required=True, help="directory written by `minibert train --task question-answering`")
    p.add_argument("--data", required=True, type=Path, help="SQuAD v1.1/v2.0 JSON or JSON Lines with answers")
    p.add_argument("--json", action="store_true", help="print one JSON object with every score")
    p.add_argument("--predictions", type=Path, help="also write the predicted answers here, as the official {id: answer} JSON")
    p.add_argument("--skip-bad-answers", action="store_true", help="leave out (and count) questions whose answer_start is wrong")
    p.add_argument("--batch-size", type=int, default=32, help="windows per batch (default: 32)")
    p.add_argument("--max-length", type=int, help="tokens per window (default: min(the model's maximum, 384))")
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    question_answering.add_reader_arguments(p, top_k=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return question_answering.evaluate(args)
