"""Rewrite a generated section of a docs page, between two HTML-comment markers, so the
numbers in docs/ are always the scripts' output and never typed by hand."""

from __future__ import annotations

from pathlib import Path


def replace_between(path: Path, name: str, text: str) -> None:
    """Replace what lies between `<!-- name:start -->` and `<!-- name:end -->` in `path`."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from minibert.weights import atomic_write_text

    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = path.read_text(encoding="utf-8")
    if start not in content or end not in content:
        raise SystemExit(f"{path} lacks the markers {start} ... {end}")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    atomic_write_text(path, f"{head}{start}\n{text}{end}{tail}")
