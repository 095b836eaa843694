"""`minibert attention` on the real all-MiniLM-L6-v2 checkpoint, run in-process through minibert.cli.main."""

from __future__ import annotations

import pytest

from minibert.cli import main



def test_attention_command_writes_a_png_of_one_head(tmp_path, minilm_dir, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "head.png"
    assert main(["attention", "--model", str(minilm_dir), "--text", "The cat sat on the mat.", "--layer", "1",
                 "--head", "4", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert capsys.readouterr().out == f"wrote {out} (layer 1, head 4; 9 word pieces)\n"


def test_attention_command_writes_html_for_a_sentence_pair(tmp_path, minilm_dir, capsys):
    out = tmp_path / "maps.html"
    assert main(["attention", "--model", str(minilm_dir), "--text", "Where is the cat?", "--pair", "On the mat.",
                 "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    # [CLS] where is the cat ? [SEP] on the mat . [SEP]
    for piece in ["[CLS]", "where", "cat", "?", "[SEP]", "mat"]:
        assert f"<th>{piece}</th>" in page
    assert page.count("<table") == 6 * 12
    assert "6 layers x 12 heads; 12 word pieces" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--out", "x.jpg"], "use a .png, .svg, .pdf or .html file name"),
    (["--out", "no/such/dir/x.png"], "does not exist"),
    (["--out", "x.png", "--head", "1"], "--head needs --layer"),
])
def test_attention_command_errors_are_one_line(tmp_path, minilm_dir, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["attention", "--model", str(minilm_dir), "--text", "Hello.", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minibert attention: error: ") and message in err and err.count("\n") == 1
