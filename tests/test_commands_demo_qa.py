"""`minibert demo qa`: its baseline by hand, and its data. (A full run fine-tunes MiniLM for
minutes: it is measured and reported, not run by the suite.)"""

from __future__ import annotations

from minibert.commands.demo_qa import NEW_QUESTIONS, dataset_path, sentence_baseline
from minibert.squad import read_squad


def test_the_sentence_baseline_answers_with_the_best_matching_sentence():
    context = "Owls hunt at night. Their large eyes face forward. The barn owl can catch a mouse in darkness."
    assert sentence_baseline("Which owl can catch a mouse?", context) == "The barn owl can catch a mouse in darkness."
    assert sentence_baseline("Zebras?", context) == "Owls hunt at night."  # no word in common: the first


def test_the_bundled_data_has_what_the_demo_promises(minilm_dir):
    from minibert import BertTokenizer
    from minibert.tasks.question_answering import encode_windows

    train, dev = read_squad(dataset_path("train")), read_squad(dataset_path("dev"))
    assert 150 <= len(train.examples) <= 250 and 40 <= len(dev.examples) <= 60
    assert train.has_unanswerable and dev.has_unanswerable and not train.skipped and not dev.skipped
    assert not {e.context for e in train.examples} & {e.context for e in dev.examples}  # no paragraph in both
    windows = encode_windows(BertTokenizer.from_pretrained(minilm_dir), [e.question for e in dev.examples],
                             [e.context for e in dev.examples], max_length=128, stride=32)
    assert len(windows) > len(dev.examples)  # some dev contexts are longer than one window of the demo
    assert all(q.strip() and c.strip() for q, c in NEW_QUESTIONS)
