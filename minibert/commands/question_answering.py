"""The question-answering side of `minibert predict`: questions in, answers out.

    minibert predict --model reader --input questions.jsonl        # {"question": ..., "context": ...} per line
    minibert predict --model reader --question "Who?" --context-file doc.txt

It answers through `minibert.pipeline("question-answering")`, whose span search is the one of
minibert/tasks/question_answering.py (as are `minibert evaluate`'s and training's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_question_arguments(p: argparse.ArgumentParser) -> None:
    """`minibert predict`'s way to ask one question without an input file."""
    g = p.add_argument_group("one question (for a question-answering model)")
    g.add_argument("--question", help="the question (with --context or --context-file) instead of --input")
    g.add_argument("--context", help="the text to answer from")
    g.add_argument("--context-file", type=Path, help="read the context from this UTF-8 text file")


def add_reader_arguments(p: argparse.ArgumentParser) -> None:
    """The question-answering pipeline's parameters as options (--max-length is max_seq_len)."""
    g = p.add_argument_group("question answering (for a BertForQuestionAnswering model)")
    g.add_argument("--top-k", type=int, default=1, help="answers per question (default: 1)")
    g.add_argument("--doc-stride", type=int, help="context tokens shared by neighbouring windows (default: min(max length / 2, 128))")
    g.add_argument("--max-answer-len", type=int, default=15, help="longest answer in tokens (default: 15)")
    g.add_argument("--handle-impossible-answer", action="store_true", help="let the empty answer win when the model says there is none")


def pipeline_options(args: argparse.Namespace) -> dict:
    options = {"top_k": args.top_k, "max_answer_len": args.max_answer_len,
               "handle_impossible_answer": args.handle_impossible_answer}
    if args.max_length is not None:
        options["max_seq_len"] = args.max_length
    if args.doc_stride is not None:
        options["doc_stride"] = args.doc_stride
    return options


def read_questions(args: argparse.Namespace) -> list[dict]:
    """{"question", "context"} dicts from --question/--context(-file), or JSON Lines from --input."""
    from minibert.cli import CommandError

    if args.question is not None:
        if (args.context is None) == (args.context_file is None):
            raise CommandError("--question needs exactly one of --context and --context-file")
        context = args.context if args.context is not None else _read_text(args.context_file)
        return [{"question": args.question, "context": context}]
    if args.context is not None or args.context_file is not None:
        raise CommandError("--context and --context-file go with --question")
    text = sys.stdin.read() if args.input == "-" else _read_text(Path(args.input))
    items = []
    # JSON Lines: only "\n" ends a record (JSON allows U+2028 and friends inside strings).
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{args.input}, line {number}: not valid JSON ({exc.msg}); give one "
                               '{"question": ..., "context": ...} object per line') from None
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("question", "context")):
            raise CommandError(f'{args.input}, line {number}: needs "question" and "context" texts')
        items.append(item)
    if not items:
        raise CommandError(f"no questions in {'standard input' if args.input == '-' else args.input}")
    return items


def print_answers(args: argparse.Namespace, reader, items: list[dict]) -> int:
    """`minibert predict` for a question-answering model: `answer<TAB>score<TAB>question` per
    answer, or with --json one object per question (its answers in a list with --top-k > 1)."""
    from minibert.cli import CommandError

    try:
        results = reader([{"question": i["question"], "context": i["context"]} for i in items], **pipeline_options(args))
    except (ValueError, TypeError) as exc:
        raise CommandError(str(exc)) from None
    results = results if len(items) > 1 else [results]
    for item, result in zip(items, results):
        answers = result if isinstance(result, list) else [result]
        if args.json:
            print(json.dumps({"question": item["question"], "answers": answers} if args.top_k > 1 else
                             {"question": item["question"], **answers[0]}, ensure_ascii=False))
        else:  # one line per answer: answer, score, question ("no answer" leaves the first field empty)
            for a in answers:
                print(f"{a['answer']}\t{a['score']:.4f}\t{item['question']}")
    return 0


def _read_text(path: Path) -> str:
    from minibert import data
    from minibert.cli import CommandError

    try:
        return data.read_text(path)
    except data.DataError as exc:
        raise CommandError(str(exc)) from None
