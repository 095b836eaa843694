"""Evidence that pre-training works, on real English text, sized for a CPU in minutes.

(a) from scratch: a BERT of the `small` size (or --config) trained with masked-LM + NSP on
    the Debian Administrator's Handbook and Debian Reference (corpus/, GPL/CC-BY-SA);
    its training and held-out masked-LM loss are logged.
(b) continued pre-training: the real all-MiniLM-L6-v2 weights as BertForMaskedLM. Its
    checkpoint has no MLM head, so the head (transform + LayerNorm + output bias) is newly
    initialised; the decoder reuses the trained word embeddings. Held-out masked-token
    accuracy is logged from step 0.

Only prose lines are kept (see `is_prose`: about 1.5 MB of the 2 MB), cut into documents of
--document-lines lines (blank-line separated); the last 5% of each file's documents are held out. Writes docs/figures/pretrain_evidence.json
and docs/figures/pretrain_evidence.png. Every number in docs/pretraining.md comes from the JSON.

    python benchmarks/pretrain_evidence.py              # both runs
    python benchmarks/pretrain_evidence.py --only scratch --scratch-steps 20
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.docs_sections import replace_between  # noqa: E402

from minibert import BertConfig, BertForMaskedLM, BertForPreTraining, BertTokenizer  # noqa: E402
from minibert.commands.embed import default_model_dir  # noqa: E402
from minibert.commands.pretrain import CONFIG_PRESETS  # noqa: E402
from minibert.pretraining import PretrainingArguments, pretrain  # noqa: E402

CORPUS = ROOT / "corpus"
FILES = ("en_debian_handbook.txt", "en_debian_reference.txt")
FIGURES = ROOT / "docs" / "figures"


def is_prose(line: str) -> bool:
    """At least 20 characters, 60% of them letters. The plain-text Debian Reference draws its
    tables with ASCII art: unfiltered, 42% of its tokens are "-", and a model that always
    predicts "-" would score 35% masked-token accuracy while learning nothing about English."""
    line = line.strip()
    return len(line) >= 20 and sum(c.isalpha() for c in line) >= 0.6 * len(line)


def split_corpus(directory: Path, document_lines: int, held_out: float = 0.05) -> tuple[Path, Path]:
    """train/ and eval/ folders of blank-line-separated documents of prose lines; the last
    documents of each file are held out."""
    train, evaluation = directory / "train", directory / "eval"
    train.mkdir(parents=True)
    evaluation.mkdir(parents=True)
    for name in FILES:
        lines = [line for line in (CORPUS / name).read_text(encoding="utf-8").splitlines() if is_prose(line)]
        documents = ["\n".join(lines[i : i + document_lines]) for i in range(0, len(lines), document_lines)]
        cut = int(len(documents) * (1 - held_out))
        (train / name).write_text("\n\n".join(documents[:cut]) + "\n", encoding="utf-8")
        (evaluation / name).write_text("\n\n".join(documents[cut:]) + "\n", encoding="utf-8")
    return train, evaluation


def run(model, tokenizer, train, evaluation, out: Path, args: argparse.Namespace, steps: int, lr: float) -> dict:
    training_args = PretrainingArguments(
        output_dir=str(out), max_steps=steps, per_device_batch_size=args.batch_size, max_length=args.max_length,
        learning_rate=lr, warmup_steps=max(1, steps // 10), logging_steps=args.logging_steps, save_steps=steps,
        save_total_limit=1, seed=0,
    )
    start = time.perf_counter()
    state = pretrain(model, tokenizer, train, training_args, eval_corpus=evaluation, eval_batches=args.eval_batches,
                     progress=False)
    return {
        "model": type(model).__name__,
        "parameters": model.num_parameters(),
        "config": {k: getattr(model.config, k) for k in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                                        "intermediate_size", "vocab_size")},
        "steps": steps, "batch_size": args.batch_size, "max_length": args.max_length, "learning_rate": lr,
        "eval_batches": args.eval_batches, "logging_steps": args.logging_steps,
        "seconds": time.perf_counter() - start,
        "log": state.log_history,
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [name for name in ("scratch", "continued") if name in results]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    for ax, name in zip(axes[0], panels):
        log = results[name]["log"]
        train = [r for r in log if "mlm_loss" in r]
        held = [r for r in log if "eval_mlm_loss" in r]
        ax.plot([r["step"] for r in train], [r["mlm_loss"] for r in train], "o-", label="training MLM loss")
        ax.plot([r["step"] for r in held], [r["eval_mlm_loss"] for r in held], "s--", label="held-out MLM loss")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("masked-LM cross-entropy")
        acc = ax.twinx()
        acc.plot([r["step"] for r in held], [r["eval_mlm_accuracy"] for r in held], "^:", color="tab:green",
                 label="held-out masked-token accuracy")
        acc.set_ylabel("accuracy")
        lines = ax.get_legend_handles_labels()[0] + acc.get_legend_handles_labels()[0]
        ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="center right")
        r = results[name]
        title = ("from scratch" if name == "scratch" else "continued from all-MiniLM-L6-v2")
        ax.set_title(f"{title}: {r['model']}, {r['parameters'] / 1e6:.1f}M parameters", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def update_docs(results: dict, doc: Path = ROOT / "docs" / "pretraining.md") -> None:
    """Rewrite the generated part of docs/pretraining.md (between the evidence markers) from the JSON."""
    rows = ["| run | model | steps x sequences x tokens | step | train MLM loss | held-out MLM loss | held-out masked-token accuracy | NSP accuracy |",
            "|---|---|---|---:|---:|---:|---:|---:|"]
    for name, title in (("scratch", "from scratch"), ("continued", "continued from all-MiniLM-L6-v2")):
        if name not in results:
            continue
        r = results[name]
        what = f"{r['model']} ({r.get('preset', 'MiniLM-L6')}, {r['parameters'] / 1e6:.1f}M)"
        size = f"{r['steps']} x {r['batch_size']} x {r['max_length']}"
        for record in r["log"]:
            if "eval_mlm_loss" not in record:
                continue
            train = f"{record['mlm_loss']:.3f}" if "mlm_loss" in record else "-"
            nsp = f"{record['eval_nsp_accuracy']:.3f}" if "eval_nsp_accuracy" in record else "-"
            rows.append(f"| {title} | {what} | {size} | {record['step']} | {train} | {record['eval_mlm_loss']:.3f} | "
                        f"{record['eval_mlm_accuracy']:.3f} | {nsp} |")
            title = what = size = ""
    env = results["environment"]
    seconds = ", ".join(f"{name} {results[name]['seconds']:.0f} s" for name in ("scratch", "continued") if name in results)
    text = (f"Generated by `python benchmarks/pretrain_evidence.py` (torch {env['torch']}, {env['threads']} CPU threads, "
            f"tokenizer `{env['tokenizer']}`; wall time {seconds}) from `docs/figures/pretrain_evidence.json`.\n\n"
            + "\n".join(rows) + "\n")
    replace_between(doc, "evidence", text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=("scratch", "continued"))
    p.add_argument("--config", default="small", choices=sorted(CONFIG_PRESETS))
    p.add_argument("--scratch-steps", type=int, default=60)
    p.add_argument("--scratch-lr", type=float, default=1e-3)
    p.add_argument("--continued-steps", type=int, default=100)
    p.add_argument("--continued-lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--logging-steps", type=int, default=10)
    p.add_argument("--eval-batches", type=int, default=8)
    p.add_argument("--document-lines", type=int, default=20)
    p.add_argument("--out", type=Path, default=FIGURES / "pretrain_evidence.json")
    p.add_argument("--docs-only", action="store_true", help="redraw the figure and docs table from the JSON")
    args = p.parse_args()
    if args.docs_only:
        results = json.loads(args.out.read_text())
        plot(results, args.out.with_suffix(".png"))
        update_docs(results)
        return

    minilm = default_model_dir()
    tokenizer = BertTokenizer.from_pretrained(minilm)
    results = json.loads(args.out.read_text()) if args.only and args.out.is_file() else {}
    results["environment"] = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                              "machine": platform.machine(), "tokenizer": f"{type(tokenizer).__module__}.{type(tokenizer).__name__}",
                              "corpus": [str(CORPUS / f) for f in FILES], "document_lines": args.document_lines}
    with tempfile.TemporaryDirectory() as tmp:
        train, evaluation = split_corpus(Path(tmp) / "corpus", args.document_lines)
        if args.only in (None, "scratch"):
            torch.manual_seed(0)
            config = BertConfig(**CONFIG_PRESETS[args.config], vocab_size=tokenizer.vocab_size)
            model = BertForPreTraining(config)
            results["scratch"] = run(model, tokenizer, train, evaluation, Path(tmp) / "scratch", args,
                                     args.scratch_steps, args.scratch_lr)
            results["scratch"]["preset"] = args.config
            print(f"scratch done in {results['scratch']['seconds']:.0f}s", flush=True)
        if args.only in (None, "continued"):
            torch.manual_seed(0)  # the new MLM head's initial weights, whether or not the scratch run came first
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = BertForMaskedLM.from_pretrained(minilm)
            results["continued"] = run(model, tokenizer, train, evaluation, Path(tmp) / "continued", args,
                                       args.continued_steps, args.continued_lr)
            results["continued"]["newly_initialised"] = model.loading_info.initialized_keys
            results["continued"]["loading_warnings"] = [str(w.message) for w in caught]
            print(f"continued done in {results['continued']['seconds']:.0f}s", flush=True)

    FIGURES.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    plot(results, args.out.with_suffix(".png"))
    update_docs(results)
    for name in ("scratch", "continued"):
        if name in results:
            log = results[name]["log"]
            first, last = log[0], log[-1]
            print(f"{name}: held-out MLM loss {first['eval_mlm_loss']:.3f} -> {last['eval_mlm_loss']:.3f}, "
                  f"accuracy {first['eval_mlm_accuracy']:.3f} -> {last['eval_mlm_accuracy']:.3f} "
                  f"in {results[name]['steps']} steps")
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
