"""The docs cannot rot: every ```python block in docs/*.md and README.md runs, every public
name is in the API reference, the generated parts of the pages match what
docs/make_figures.py makes now, and relative links point at files that exist.

A ```python block whose first line is a comment starting with `# excerpt` is a fragment and
is not run; ```py blocks are verbatim excerpts of the code (checked by
tests/test_docs_excerpts.py) and ```bash blocks are commands, neither is run here.
Blocks find the real checkpoint with `minibert.commands.embed.default_model_dir()`, or
write the placeholder "path/to/model", which the test replaces with the real checkpoint's
directory (the bundled all-MiniLM-L6-v2).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import minibert

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
PLACEHOLDER = re.compile(r"""(["'])path/to/model\1""")


def python_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for i, match in enumerate(re.finditer(r"^```python\n(.*?)^```$", text, re.M | re.S)):
            code = match.group(1)
            if code.lstrip().startswith("# excerpt"):
                continue
            line = text[: match.start()].count("\n") + 1
            blocks.append((f"{page.relative_to(ROOT)}:{line}", code))
    return blocks


BLOCKS = python_blocks()


def test_the_docs_have_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("where, code", BLOCKS, ids=[w for w, _ in BLOCKS])
def test_python_example_runs(where, code, minilm_dir, tmp_path, monkeypatch, capsys):
    if "import transformers" in code:
        pytest.importorskip("transformers")
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    code = PLACEHOLDER.sub(lambda _: repr(str(minilm_dir)), code)
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})
    capsys.readouterr()


def test_every_public_name_is_in_the_api_reference():
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [name for name in minibert.__all__ if f"### `minibert.{name}`" not in page]
    assert not missing, f"docs/api.md does not document {missing}; run python docs/make_figures.py"


def test_relative_links_point_at_files():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            path = (page.parent / target).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, f"links to files that do not exist: {broken}"


@pytest.fixture(scope="module")
def make_figures():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import make_figures
    finally:
        sys.path.pop(0)
    return make_figures


def test_generated_parts_are_up_to_date_and_figures_render(make_figures, minilm_dir, tmp_path):
    pytest.importorskip("matplotlib")
    pages = make_figures.pages(minilm_dir, figures_dir=tmp_path)
    stale = [str(path.relative_to(ROOT)) for path, text in pages.items() if path.read_text(encoding="utf-8") != text]
    assert not stale, f"{stale} out of date: run python docs/make_figures.py"
    for name in make_figures.FIGURES.values():
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert (ROOT / "docs" / "figures" / name).is_file(), f"docs/figures/{name} is not committed"


def test_a_page_marker_the_script_does_not_know_is_an_error(make_figures):
    with pytest.raises(KeyError, match="'nope'"):
        make_figures.replace_generated("<!-- generated: nope -->\nold\n<!-- end generated -->\n", {})
    assert make_figures.replace_generated("a\n<!-- generated: x -->\nold\n<!-- end generated -->\n", {"x": "new"}) == (
        "a\n<!-- generated: x -->\nnew\n<!-- end generated -->\n"
    )
