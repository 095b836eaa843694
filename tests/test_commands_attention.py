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


LONG_TEXT = " ".join(f"word{i}" for i in range(300))  # 830 word pieces: word, ##0, word, ##1, ...


def test_a_text_too_long_for_the_image_says_how_to_narrow_it(tmp_path, minilm_dir, capsys):
    out = tmp_path / "layer.png"
    assert main(["attention", "--model", str(minilm_dir), "--text", LONG_TEXT, "--layer", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == ("minibert attention: error: 512 word pieces are too many for an image of one layer (at most 60): "
                   "cut the text with --max-tokens 60 or draw one head (--layer L --head H)\n")
    assert not out.exists()


def test_max_tokens_cuts_the_text_and_the_output_says_so(tmp_path, minilm_dir, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "head.png"
    assert main(["attention", "--model", str(minilm_dir), "--text", LONG_TEXT, "--layer", "1", "--head", "2",
                 "--max-tokens", "20", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out} (layer 1, head 2; 20 word pieces, cut from 830)\n"


def test_max_tokens_must_leave_room_for_the_special_tokens(tmp_path, minilm_dir, capsys):
    assert main(["attention", "--model", str(minilm_dir), "--text", "Hello.", "--pair", "Hi.", "--max-tokens", "4",
                 "--out", str(tmp_path / "x.png")]) == 2
    assert "--max-tokens must be at least 5" in capsys.readouterr().err
