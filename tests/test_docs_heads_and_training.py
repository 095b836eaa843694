"""docs/heads_and_training.md: each ```py excerpt appears word for word in the file named
above it, so the page cannot drift from the code."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "heads_and_training.md"


def excerpts() -> list[tuple[str, str]]:
    text = PAGE.read_text(encoding="utf-8")
    source, found = None, []
    for match in re.finditer(r"^`(minibert/[\w/]+\.py)`:$|^```py\n(.*?)^```$", text, re.M | re.S):
        if match.group(1):
            source = match.group(1)
        else:
            found.append((source, match.group(2)))
    return found


def test_the_page_has_excerpts():
    assert len(excerpts()) >= 6


@pytest.mark.parametrize("source, code", excerpts(), ids=lambda v: str(v)[:40])
def test_excerpt_appears_verbatim_in_its_source(source, code):
    assert source is not None, "an excerpt comes before any line naming its file"
    lines = [line.strip() for line in textwrap.dedent(code).strip().splitlines()]
    source_lines = [line.strip() for line in (ROOT / source).read_text(encoding="utf-8").splitlines()]
    n = len(lines)
    assert any(source_lines[i : i + n] == lines for i in range(len(source_lines) - n + 1)), (
        f"this excerpt is no longer in {source}:\n{code}"
    )
