"""The question-answering side of `minibert predict` and `minibert evaluate`.

    minibert predict --model reader --input questions.jsonl        # {"question": ..., "context": ...} per line
    minibert predict --model reader --question "Who?" --context-file doc.txt
    minibert evaluate --model reader --data dev.json --json --predictions preds.json

Both answer through `minibert.pipeline("question-answering")`, so the span search is the one
of minibert/tasks/question_answering.py everywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path


def add_question_arguments(p: argparse.ArgumentParser) -> None:
    """`minibert predict`'s way to ask one question without an input file."""
    g = p.add_argument_group("one question (for a question-answering model)")
    g.add_argument("--question", help="the question (with --context or --context-file) instead of --input")
    g.add_argument("--context", help="the text to answer from")
    g.add_argument("--context-file", type=Path, help="read the context from this UTF-8 text file")


def add_reader_arguments(p: argparse.ArgumentParser, top_k: bool = True) -> None:
    """The question-answering pipeline's parameters as options (--max-length is max_seq_len)."""
    g = p.add_argument_group("question answering (for a BertForQuestionAnswering model)")
    if top_k:
        g.add_argument("--top-k", type=int, default=1, help="answers per question (default: 1)")
    g.add_argument("--doc-stride", type=int, help="context tokens shared by neighbouring windows (default: min(max length / 2, 128))")
    g.add_argument("--max-answer-len", type=int, default=15, help="longest answer in tokens (default: 15)")
    g.add_argument("--handle-impossible-answer", action="store_true",
                   help="let the empty answer win when the model says there is none (evaluate: on whenever the data has unanswerable questions)")


def is_reader(model: str) -> bool:
    """Whether config.json's `architectures` names BertForQuestionAnswering (every minibert
    head writes its class name there)."""
    from minibert.hub import ModelNotFoundError, resolve_file

    try:
        config = json.loads(resolve_file(model, "config.json").read_text(encoding="utf-8"))
    except (ModelNotFoundError, ValueError, OSError):
        return False  # loading the model as a classifier then says what is wrong
    return isinstance(config, dict) and "BertForQuestionAnswering" in (config.get("architectures") or [])


def load_reader(model: str, device: str | None = None, batch_size: int = 32):
    from minibert import pipeline
    from minibert.cli import CommandError
    from minibert.hub import ModelNotFoundError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the loader's notes: a missing head is the one-line error below
            return pipeline("question-answering", model=model, device=device, batch_size=batch_size)
    except (ModelNotFoundError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None


def pipeline_options(args: argparse.Namespace) -> dict:
    options = {"top_k": getattr(args, "top_k", 1), "max_answer_len": args.max_answer_len,
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
    for number, line in enumerate(text.splitlines(), start=1):
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


def predict(args: argparse.Namespace, reader=None) -> int:
    """`minibert predict` for a question-answering model: `answer<TAB>score<TAB>question` per
    answer, or with --json one object per question (its answers in a list with --top-k > 1)."""
    from minibert.cli import CommandError

    items = read_questions(args)
    reader = reader or load_reader(args.model, args.device, args.batch_size)
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


def evaluate(args: argparse.Namespace) -> int:
    """`minibert evaluate` for a question-answering model: SQuAD EM/F1 on a data file."""
    from minibert import data, metrics
    from minibert.cli import CommandError
    from minibert.squad import read_squad

    try:
        squad = read_squad(args.data, skip_bad_answers=getattr(args, "skip_bad_answers", False))
    except data.DataError as exc:
        raise CommandError(str(exc)) from None
    reader = load_reader(args.model, args.device, args.batch_size)
    options = pipeline_options(args) | {"top_k": 1, "handle_impossible_answer": squad.has_unanswerable or args.handle_impossible_answer}
    try:
        results = reader([{"question": e.question, "context": e.context} for e in squad.examples], progress=True, **options)
    except (ValueError, TypeError) as exc:
        raise CommandError(str(exc)) from None
    results = results if len(squad.examples) > 1 else [results]
    predictions = {e.id: (r[0] if isinstance(r, list) else r)["answer"] for e, r in zip(squad.examples, results)}
    scores = metrics.squad_scores(predictions, squad.references())
    if args.predictions is not None:
        _write_json(args.predictions, predictions)
    if args.json:
        print(json.dumps(scores))
    else:
        parts = [f"exact match {scores['exact_match']:.2f}", f"F1 {scores['f1']:.2f}", f"({scores['total']} questions"]
        if "HasAns_total" in scores:
            parts[-1] += (f"; answerable {scores['HasAns_total']}: EM {scores['HasAns_exact_match']:.2f} F1 {scores['HasAns_f1']:.2f}"
                          f"; unanswerable {scores['NoAns_total']}: EM {scores['NoAns_exact_match']:.2f}")
        print(" ".join(parts) + ")")
    if squad.skipped:
        print(f"note: {len(squad.skipped)} question(s) skipped for bad answers, e.g. {squad.skipped[0][0]!r}", file=sys.stderr)
    return 0


def _read_text(path: Path) -> str:
    from minibert.cli import CommandError

    if not path.is_file():
        raise CommandError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not UTF-8 text") from None


def _write_json(path: Path, value) -> None:
    from minibert.cli import CommandError
    from minibert.fileio import atomic_write_text

    try:
        atomic_write_text(path, json.dumps(value, indent=1, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None

