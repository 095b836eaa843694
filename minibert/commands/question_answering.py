"""The question-answering side of `minibert predict`, `minibert evaluate` and `minibert demo qa`.

    minibert predict --model reader --input questions.jsonl        # {"question": ..., "context": ...} per line
    minibert predict --model reader --question "Who?" --context-file doc.txt
    minibert evaluate --model reader --data dev.json --json --predictions preds.json
    minibert demo qa

All three answer through `minibert.pipeline("question-answering")`, so the span search is the
one of minibert/tasks/question_answering.py everywhere.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
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


def load_reader(model: str, device: str | None = None, batch_size: int = 32):
    from minibert import pipeline
    from minibert.cli import CommandError
    from minibert.hub import ModelNotFoundError

    try:
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


def sentence_baseline(question: str, context: str) -> str:
    """The context sentence that shares the most words with the question (the first on a tie):
    what a reader who only matches words would answer."""
    words = set(re.findall(r"\w+", question.lower()))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", context) if s.strip()]
    return max(sentences, key=lambda s: len(words & set(re.findall(r"\w+", s.lower()))))


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
    from minibert.weights import atomic_write_text

    try:
        atomic_write_text(path, json.dumps(value, indent=1, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None


# --- minibert demo qa --------------------------------------------------------------------------

NEW_QUESTIONS = [
    ("Who built the first lighthouse on Cape Morrow?",
     "The first lighthouse on Cape Morrow was built in 1852 by the engineer Thomas Reed. It stood 28 metres "
     "tall and its lamp burned whale oil until 1890."),
    ("How tall was the lighthouse?",
     "The first lighthouse on Cape Morrow was built in 1852 by the engineer Thomas Reed. It stood 28 metres "
     "tall and its lamp burned whale oil until 1890."),
    ("Where do sea otters sleep?",
     "Sea otters live along the coasts of the northern Pacific Ocean. They sleep floating on their backs, "
     "often holding hands so that they do not drift apart, and they eat sea urchins, crabs and clams."),
    ("What do sea otters eat?",
     "Sea otters live along the coasts of the northern Pacific Ocean. They sleep floating on their backs, "
     "often holding hands so that they do not drift apart, and they eat sea urchins, crabs and clams."),
    ("What is the capital of the moon?",
     "Sea otters live along the coasts of the northern Pacific Ocean. They sleep floating on their backs, "
     "often holding hands so that they do not drift apart, and they eat sea urchins, crabs and clams."),
]


def demo_dataset(split: str) -> Path:
    from importlib import resources

    return Path(str(resources.files("minibert") / "datasets" / f"qa_{split}.json"))


# The demo's training defaults: MiniLM learns the bundled set in a few epochs at a high rate.
DEMO_TRAINING = {"epochs": 4, "batch_size": 16, "lr": 2e-4, "max_length": 128}


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `minibert demo qa` besides the shared training options (DEMO_TRAINING)."""
    p.add_argument("--doc-stride", type=int, default=32, help="context tokens shared by neighbouring windows (default: 32)")


def demo(args: argparse.Namespace) -> int:
    """Fine-tune the bundled MiniLM as a reader on the bundled QA set; dev EM/F1 beside the
    sentence baseline; answers to a few new questions."""
    import time

    from minibert import metrics, pipeline
    from minibert.cli import CommandError
    from minibert.commands.train import check_max_length, check_out_dir, load_model, resolve_model, training_arguments
    from minibert.tasks import QuestionAnswering
    from minibert.training import train

    start = time.perf_counter()
    task = QuestionAnswering(doc_stride=args.doc_stride)
    train_examples = task.read_examples(demo_dataset("train"))
    dev_examples = task.read_examples(demo_dataset("dev"))
    if args.out is not None:
        check_out_dir(args.out, overwrite=False, resume=False)
    training_args = training_arguments(args, args.out)
    tokenizer, model = load_model(task, resolve_model(args.model), [], args.seed)
    max_length = check_max_length(args.max_length, model)
    try:
        train_features = task.features(train_examples, tokenizer, max_length)
        dev_features = task.features(dev_examples, tokenizer, max_length)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    longer = sum(1 for i in range(len(dev_examples)) if sum(f["example"] == i for f in dev_features) > 1)
    print(f"minibert demo qa: fine-tuning a reader ({model.num_parameters() / 1e6:.1f}M parameters) on {len(train_examples)} "
          f"questions ({len(train_features)} windows of at most {max_length} tokens), {args.epochs} epochs; dev set: "
          f"{len(dev_examples)} questions, {sum(not e.answers for e in dev_examples)} unanswerable, {longer} with a context "
          f"longer than one window")
    sys.stdout.flush()

    save = tokenizer.save_pretrained if args.out is not None else None
    result = train(model, train_features, training_args, dev_features, task=task, save_model=save)
    best = result.history[result.best_epoch - 1]
    baseline = metrics.squad_scores({e.id: sentence_baseline(e.question, e.context) for e in dev_examples},
                                    {e.id: e.answers for e in dev_examples})
    print(f"dev: exact match {best['eval_exact_match']:.1f}, F1 {best['eval_f1']:.1f} (best of {result.epoch} epochs: epoch "
          f"{result.best_epoch}); baseline (the context sentence with the most question words): exact match "
          f"{baseline['exact_match']:.1f}, F1 {baseline['f1']:.1f}")
    reader = pipeline("question-answering", model=model, tokenizer=tokenizer)
    print("new questions:")
    for question, context in NEW_QUESTIONS:
        answer = reader(question=question, context=context, max_seq_len=max_length, doc_stride=args.doc_stride,
                        handle_impossible_answer=True)
        print(f"  {question:<50} {answer['answer'] or '(no answer)'!r:<32} {answer['score']:6.1%}")
    if args.out is not None:
        print(f"reader saved to {args.out}; try: minibert predict --model {args.out} --question ... --context ...")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0
