"""`minibert pretrain`: masked-LM + next-sentence pre-training from plain text files.

    minibert pretrain --corpus books/ --config small --out runs/small        # from scratch
    minibert pretrain --corpus notes.txt --init bert-base-uncased --out runs/domain   # continued
    torchrun --nproc-per-node 4 -m minibert pretrain ...                    # 4 processes (DDP)

Run it again with the same --out to resume from the last checkpoint, exactly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from minibert.commands.train import add_distributed_arguments, check_out_dir, run_on_processes

# Named sizes of Turc et al. (2019), "Well-Read Students Learn Better", and BERT-base itself.
CONFIG_PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512),
    "mini": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "small": dict(num_hidden_layers=4, hidden_size=512, num_attention_heads=8, intermediate_size=2048),
    "medium": dict(num_hidden_layers=8, hidden_size=512, num_attention_heads=8, intermediate_size=2048),
    "base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "pretrain", help="pre-train (masked LM + next sentence) on plain text, on one process or with torchrun",
        description="Pre-train a BERT on plain-text files: documents separated by blank lines (or one per file "
        "with --one-document-per-file). Launch with torchrun for several processes; rerun to resume.",
    )
    p.add_argument("--corpus", nargs="+", required=True, metavar="PATH", help="text files or directories of them")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory: checkpoints and the final model")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--config", default="small", metavar="NAME_OR_FILE",
                       help=f"from scratch: {'|'.join(CONFIG_PRESETS)} or a config.json (default: %(default)s)")
    model.add_argument("--init", metavar="DIR_OR_ID", help="continue pre-training this checkpoint")
    p.add_argument("--tokenizer", metavar="DIR_OR_ID",
                   help="vocabulary (default: --init's, else the bundled bert-base-uncased vocabulary)")
    p.add_argument("--eval-corpus", nargs="+", metavar="PATH", help="held-out text: masked-token accuracy is logged")
    p.add_argument("--no-nsp", action="store_true", help="masked LM only (BertForMaskedLM), no next-sentence task")
    p.add_argument("--max-steps", type=int, default=1000, help="optimizer steps to train for (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per process per micro-batch (default: %(default)s)")
    p.add_argument("--gradient-accumulation-steps", type=int, default=1, metavar="N",
                   help="micro-batches per optimizer step: a step sees N x --batch-size sequences per process "
                        "(default: %(default)s)")
    p.add_argument("--max-length", type=int, default=128,
                   help="word pieces per sequence, [CLS] and [SEP] included (default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate of AdamW (default: %(default)s)")
    p.add_argument("--warmup-steps", type=int, default=0,
                   help="steps over which the learning rate rises linearly from 0 to --lr; it then falls linearly "
                        "to 0 at --max-steps (default: %(default)s)")
    p.add_argument("--weight-decay", type=float, default=0.01,
                   help="AdamW weight decay, not applied to biases and LayerNorm (default: %(default)s)")
    p.add_argument("--mlm-probability", type=float, default=0.15,
                   help="share of the word pieces chosen for masked-LM prediction (default: %(default)s)")
    p.add_argument("--whole-word-mask", action="store_true", help="mask all pieces of a word together")
    p.add_argument("--one-document-per-file", action="store_true",
                   help="each file is one document (default: a blank line ends a document)")
    p.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no",
                   help="autocast the forward pass to bfloat16 or float16 (fp16 needs CUDA) (default: %(default)s)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations: less memory")
    p.add_argument("--logging-steps", type=int, metavar="N", default=10,
                   help="log the loss, accuracy and throughput every N steps (default: %(default)s)")
    p.add_argument("--save-steps", type=int, metavar="N", default=500,
                   help="write a checkpoint (to resume from) every N steps (default: %(default)s)")
    p.add_argument("--save-total-limit", type=int, metavar="N", default=2,
                   help="keep only the newest N checkpoints (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the initial weights, the pairs and the masks: a seed gives the same run (default: %(default)s)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--no-progress", action="store_true", help="print one line per logging step instead of a bar")
    add_distributed_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_on_processes(args, _pretrain)


def _pretrain(args: argparse.Namespace, ctx) -> int:
    import torch

    from minibert import BertConfig, BertForMaskedLM, BertForPreTraining, BertTokenizer
    from minibert.cli import CommandError
    from minibert.commands.embed import default_model_dir
    from minibert.pretraining import PretrainingArguments, pretrain
    check_out_dir(Path(args.out), overwrite=True, resume=True)  # a file, or unwritable: said now, not after training
    corpus = _checked_corpus(args.corpus, "--corpus", args, ctx)
    eval_corpus = _checked_corpus(args.eval_corpus, "--eval-corpus", args, ctx) if args.eval_corpus else None
    tokenizer_path = args.tokenizer or args.init or default_model_dir()
    if tokenizer_path is None:
        raise CommandError("no vocabulary: pass --tokenizer DIR_OR_ID (a directory with vocab.txt)")
    tokenizer = BertTokenizer.from_pretrained(tokenizer_path)

    model_class = BertForMaskedLM if args.no_nsp else BertForPreTraining
    if args.init:
        model = model_class.from_pretrained(args.init)
    else:
        config = _config(args.config, CommandError)
        if config.vocab_size != tokenizer.vocab_size:
            config.vocab_size = tokenizer.vocab_size
        torch.manual_seed(args.seed)  # the same initial weights on every rank
        model = model_class(config)
    if model.config.vocab_size < tokenizer.vocab_size:
        raise CommandError(
            f"the tokenizer has {tokenizer.vocab_size} tokens but the model only {model.config.vocab_size}: "
            "use the model's own vocabulary (--tokenizer)"
        )
    training_args = PretrainingArguments(
        output_dir=args.out, max_steps=args.max_steps, per_device_batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps, max_length=args.max_length,
        learning_rate=args.lr, warmup_steps=args.warmup_steps, weight_decay=args.weight_decay,
        mlm_probability=args.mlm_probability, whole_word_mask=args.whole_word_mask,
        mixed_precision=args.mixed_precision, gradient_checkpointing=args.gradient_checkpointing,
        strategy=args.strategy, logging_steps=args.logging_steps, save_steps=args.save_steps,
        save_total_limit=args.save_total_limit, seed=args.seed, one_document_per_file=args.one_document_per_file,
    )
    if ctx.is_main:
        what = f"from {args.init}" if args.init else f"from scratch ({args.config})"
        print(f"pre-training {type(model).__name__} {what}: {model.num_parameters() / 1e6:.1f}M parameters, "
              f"{ctx.world_size} process(es) on {ctx.device.type}, "
              f"{args.batch_size * args.gradient_accumulation_steps * ctx.world_size} sequences per step", flush=True)
    state = pretrain(model, tokenizer, corpus, training_args, ctx=ctx, eval_corpus=eval_corpus,
                     progress=not args.no_progress)
    if ctx.is_main:
        last = state.log_history[-1] if state.log_history else {}
        shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "step")
        print(f"done: step {state.step}; {shown}; model written to {Path(args.out)}", flush=True)
    return 0


def _checked_corpus(paths: list[str], flag: str, args: argparse.Namespace, ctx) -> list[Path]:
    """The corpus's text files, read through once before training, so that a file that is not
    UTF-8 text, or too few documents, is said now, in the command's terms, not mid-run."""
    import sys

    from minibert.cli import CommandError
    from minibert.pretraining_data import CorpusError, count_documents, find_corpus_files

    try:
        files, skipped = find_corpus_files(paths)
        documents = count_documents(files, args.one_document_per_file)
    except CorpusError as exc:
        raise CommandError(f"{flag}: {exc}") from None
    if ctx.is_main and skipped:
        names = ", ".join(str(p) for p in skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        print(f"note: {flag}: skipped {len(skipped)} files that are not *.txt or *.text: {names}", file=sys.stderr, flush=True)
    where = f"{len(files)} file{'s' if len(files) > 1 else ''}"
    if documents == 0:
        raise CommandError(f"{flag}: the corpus ({where}) holds no text")
    needed = (1 if args.no_nsp else 2) * ctx.world_size
    if documents < needed:
        per_process = f" ({needed // ctx.world_size} for each of {ctx.world_size} processes)" if ctx.world_size > 1 else ""
        if args.no_nsp:
            raise CommandError(f"{flag}: the corpus ({where}) has {documents} documents, fewer than the {ctx.world_size} processes")
        one_per_file = "" if args.one_document_per_file else ", or pass --one-document-per-file to make each file one"
        raise CommandError(
            f"{flag}: next-sentence prediction needs at least {needed} documents{per_process}, the corpus ({where}) has "
            f"{documents}: separate documents with blank lines{one_per_file}, or pass --no-nsp to train masked-LM only"
        )
    if ctx.is_main:
        print(f"{flag.lstrip('-')}: {where}, {documents} documents", flush=True)
    return files


def _config(name: str, error: type[Exception]):
    from minibert import BertConfig

    if name in CONFIG_PRESETS:
        return BertConfig(**CONFIG_PRESETS[name])
    path = Path(name)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise error(f"--config {name!r} is neither one of {', '.join(CONFIG_PRESETS)} nor a config.json file")
    return BertConfig.from_json_file(path)
