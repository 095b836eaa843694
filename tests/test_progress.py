"""Progress: a bar when asked for, otherwise lines; nothing at all on processes other than rank 0."""

from __future__ import annotations

from minibert.progress import Progress


def test_without_a_bar_the_last_postfix_is_one_line_at_the_end(capsys):
    progress = Progress(3, "epoch 1/2", use_tqdm=False)
    progress.update(1, "loss 0.9")
    progress.update(2, "loss 0.5")
    progress.close()
    assert capsys.readouterr().err == "epoch 1/2: loss 0.5\n"


def test_a_loop_that_logs_as_it_goes_prints_each_line_to_its_stream(capsys):
    progress = Progress(10, "pretrain", use_tqdm=False, stream="stdout")
    progress.update(0, "loss 2.0", line="step 5: loss 2.0")
    progress.update(5)
    progress.close(summary=False)
    assert capsys.readouterr().out == "step 5: loss 2.0\n"


def test_a_disabled_progress_shows_nothing(capsys):
    progress = Progress(3, "epoch 1/1", enabled=False)
    progress.update(3, "loss 0.1", line="step 3")
    progress.write("hello")
    progress.close()
    assert capsys.readouterr() == ("", "")


def test_the_bar_counts_from_the_resumed_position(capsys):
    progress = Progress(10, "pretrain", start=4, unit="step")
    progress.update(2, "loss 1.0")
    assert (progress.bar.n, progress.bar.total) == (6, 10)
    progress.close()
    assert "6/10" in capsys.readouterr().err
