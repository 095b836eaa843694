"""fill-mask: the same answers as transformers' pipeline on the same checkpoint (a randomly
initialised masked-LM head on the real MiniLM encoder), scores within 1e-4."""

from __future__ import annotations

import pytest

from minibert import BertForMaskedLM, pipeline
from tests.pipeline_checkpoints import save_with_random_head


@pytest.fixture(scope="module")
def mlm_dir(minilm_dir, tmp_path_factory):
    return save_with_random_head(BertForMaskedLM, minilm_dir, tmp_path_factory.mktemp("mlm"))


@pytest.fixture(scope="module")
def ours(mlm_dir):
    return pipeline("fill-mask", model=mlm_dir, batch_size=3)


@pytest.fixture(scope="module")
def theirs(mlm_dir):
    transformers = pytest.importorskip("transformers")
    return transformers.pipeline("fill-mask", model=str(mlm_dir), device="cpu")


@pytest.fixture(scope="module")
def texts(corpus_dir):
    """Real sentences from the shared corpus, one word of each replaced by [MASK]."""
    lines = [l.strip() for l in (corpus_dir / "en_debian_reference.txt").read_text(encoding="utf-8").splitlines()]
    lines = [l for l in lines if 6 <= len(l.split()) <= 40][:8]
    return [" ".join("[MASK]" if i == 3 else w for i, w in enumerate(l.split())) for l in lines]


def assert_same(ours, theirs):
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert_same(o, t)
    else:
        assert ours.keys() == theirs.keys()
        assert (ours["token"], ours["token_str"], ours["sequence"]) == (theirs["token"], theirs["token_str"], theirs["sequence"])
        assert ours["score"] == pytest.approx(theirs["score"], abs=1e-4)


def test_one_text(ours, theirs, texts):
    assert_same(ours(texts[0]), theirs(texts[0]))


def test_a_list_of_real_texts(ours, theirs, texts):
    assert_same(ours(texts), theirs(texts))


def test_a_list_of_one_text_answers_as_the_text(ours, theirs, texts):
    assert_same(ours([texts[0]]), theirs([texts[0]]))


def test_top_k(ours, theirs, texts):
    assert_same(ours(texts[:3], top_k=2), theirs(texts[:3], top_k=2))


def test_several_masks_give_one_list_per_mask(ours, theirs):
    text = "The [MASK] system is [MASK] by [MASK] volunteers."
    answer = ours(text, top_k=3)
    assert len(answer) == 3 and all(len(row) == 3 for row in answer)
    assert_same(answer, theirs(text, top_k=3))
    assert_same(ours([text, "Only [MASK] here."]), theirs([text, "Only [MASK] here."]))


def test_targets(ours, theirs, texts):
    targets = ["system", "package", "the", "file"]
    assert_same(ours(texts[:3], targets=targets), theirs(texts[:3], targets=targets))
    assert_same(ours(texts[0], targets="system", top_k=3), theirs(texts[0], targets="system", top_k=3))


def test_a_target_outside_the_vocabulary_stands_for_its_first_piece(ours, theirs, texts):
    with pytest.warns(UserWarning, match="not in the vocabulary"):
        answer = ours(texts[0], targets=["debianization"])
    assert_same(answer, theirs(texts[0], targets=["debianization"]))


def test_a_text_without_a_mask_is_an_error(ours):
    with pytest.raises(ValueError, match=r"inputs\[1\]: no \[MASK\] in 'no mask here'"):
        ours(["a [MASK] here", "no mask here"])


def test_a_checkpoint_without_a_masked_lm_head_is_refused(minilm_dir):
    with pytest.raises(ValueError, match="has no BertForMaskedLM head.*minibert pretrain"):
        pipeline("fill-mask", model=minilm_dir)
