"""`minibert parity`: load one checkpoint into minibert and into `transformers`, run the same
tokens through both, and print how far apart they are at every layer (minibert.inspect).

The exit status is 0 when every step is within the tolerance and 1 when one is not, so the
command can guard a script. `transformers` is imported here only, when the command runs.
"""

from __future__ import annotations

import argparse

DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog."


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("parity", help="compare minibert with transformers layer by layer on one checkpoint")
    p.add_argument("--model", help="model directory or Hub id (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--class", dest="model_class", default="BertModel",
                   help="the model class, the same name in both libraries, e.g. BertForSequenceClassification "
                        "to compare a task head's logits too (default: BertModel)")
    p.add_argument("--text", action="append",
                   help=f"a sentence to run; repeat for a batch (default: {DEFAULT_TEXT!r})")
    p.add_argument("--ids", help="comma-separated token ids to run instead of --text, e.g. 101,7592,102")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                   help="the precision both models run in; --atol/--rtol default to its contract (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default: cpu)")
    p.add_argument("--atol", type=float, help="absolute tolerance (default: the parity contract for --dtype)")
    p.add_argument("--rtol", type=float, help="relative tolerance (default: the parity contract for --dtype)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=run)


def _import_transformers():
    from minibert.cli import CommandError

    try:
        import transformers
    except ImportError:
        raise CommandError(
            "minibert parity compares with the reference implementation, which is not installed: "
            "pip install transformers"
        ) from None
    # The report is the output: no progress bar of the reference's loading on top of it.
    transformers.utils.logging.disable_progress_bar()
    return transformers


def _inputs(args, model_path, vocab_size: int):
    import torch

    from minibert.cli import CommandError
    from minibert.commands.info import load_tokenizer

    if args.ids is not None:
        if args.text:
            raise CommandError("give --text or --ids, not both")
        try:
            ids = [int(t) for t in args.ids.replace(" ", "").split(",") if t]
        except ValueError:
            raise CommandError(f"--ids must be comma-separated integers, got {args.ids!r}") from None
        if not ids:
            raise CommandError("--ids is empty")
        bad = [i for i in ids if not 0 <= i < vocab_size]
        if bad:
            raise CommandError(f"--ids has {bad[0]}, outside the vocabulary 0..{vocab_size - 1}")
        input_ids = torch.tensor([ids])
        return input_ids, torch.ones_like(input_ids), torch.zeros_like(input_ids)
    texts = args.text or [DEFAULT_TEXT]
    tokenizer = load_tokenizer(model_path)
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")


def run(args: argparse.Namespace) -> int:
    import torch

    from minibert.cli import CommandError
    from minibert.commands.info import load_model
    from minibert.inspect import parity_report

    transformers = _import_transformers()
    dtype = getattr(torch, args.dtype)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CommandError("--device cuda but torch sees no CUDA GPU; use --device cpu")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise CommandError(f"--device {args.device!r} is not a device; use cpu or cuda") from None

    reference_class = getattr(transformers, args.model_class, None)
    if reference_class is None:
        raise CommandError(f"--class {args.model_class}: transformers has no class of that name to compare with")
    model_path, ours = load_model(args.model, args.model_class, dtype=dtype, device=device)
    try:
        theirs, loading_info = reference_class.from_pretrained(
            str(model_path), dtype=dtype, output_loading_info=True
        )
    except (OSError, ValueError) as exc:
        raise CommandError(f"transformers cannot load {model_path}: {exc}") from None
    theirs = theirs.to(device).eval()

    input_ids, attention_mask, token_type_ids = _inputs(args, model_path, ours.config.vocab_size)
    report = parity_report(
        ours, theirs, input_ids, attention_mask, token_type_ids,
        atol=args.atol, rtol=args.rtol, reference_loading_info=loading_info,
    )
    print(report.to_json() if args.json else report.format_table(), end="" if args.json else "\n")
    return 0 if report.ok else 1
