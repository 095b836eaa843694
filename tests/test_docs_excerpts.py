"""Pages in docs/ show code excerpts (```py blocks) under a line naming their file, such as
`minibert/model.py`: each excerpt must appear word for word in that file, so the pages
cannot drift from the code."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Each page with checked excerpts, and how many it has at least (so a broken pattern that
# finds none fails instead of passing vacuously).
PAGES = {"architecture.md": 10, "tokenizer.md": 4, "heads_and_training.md": 6, "token_classification.md": 4, "pipelines.md": 4, "embeddings.md": 4}


def excerpts(page: str) -> list[tuple[str | None, str]]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    source, found = None, []
    for match in re.finditer(r"^`(minibert/[\w/]+\.py)`:$|^```py\n(.*?)^```$", text, re.M | re.S):
        if match.group(1):
            source = match.group(1)
        else:
            found.append((source, match.group(2)))
    return found


@pytest.mark.parametrize("page, at_least", PAGES.items())
def test_the_page_has_excerpts(page, at_least):
    assert len(excerpts(page)) >= at_least


@pytest.mark.parametrize(
    "page, source, code",
    [(page, source, code) for page in PAGES for source, code in excerpts(page)],
    ids=lambda v: str(v)[:40],
)
def test_excerpt_appears_verbatim_in_its_source(page, source, code):
    assert source is not None, f"an excerpt in docs/{page} comes before any line naming its file"
    lines = [line.strip() for line in textwrap.dedent(code).strip().splitlines()]
    source_lines = [line.strip() for line in (ROOT / source).read_text(encoding="utf-8").splitlines()]
    n = len(lines)
    assert any(source_lines[i : i + n] == lines for i in range(len(source_lines) - n + 1)), (
        f"this excerpt in docs/{page} is no longer in {source}:\n{code}"
    )
