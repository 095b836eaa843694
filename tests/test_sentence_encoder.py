"""SentenceEncoder: on the bundled all-MiniLM-L6-v2 the embeddings equal sentence-transformers'
encode (fp32: cosine >= 0.99999 per sentence and max |difference| <= 1e-5), for short texts and
texts longer than its 256-token limit; every pooling mode and the layout files are read as
sentence-transformers reads them."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from minibert import SentenceEncoder
from minibert.pooling import POOLING_MODES

sentence_transformers = pytest.importorskip("sentence_transformers")

COSINE = 0.99999
ABS = 1e-5


@pytest.fixture(scope="module")
def encoder(minilm_dir):
    return SentenceEncoder.from_pretrained(minilm_dir)


@pytest.fixture(scope="module")
def reference(minilm_dir):
    return sentence_transformers.SentenceTransformer(str(minilm_dir), device="cpu")


@pytest.fixture(scope="module")
def texts(corpus_dir):
    """Real paragraphs of mixed length from the shared corpus: some far beyond 256 tokens."""
    paragraphs = [p.strip() for p in (corpus_dir / "en_debian_handbook.txt").read_text(encoding="utf-8").splitlines() if p.strip()]
    short = [p for p in paragraphs if 5 < len(p.split()) < 60][:12]
    long = sorted(paragraphs, key=len)[-3:]
    return short + long + ["", "Ünïcödé, émojis 🙂 and 中文 too."]


def assert_same_embeddings(ours: np.ndarray, theirs: np.ndarray):
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    cosine = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    assert cosine.min() >= COSINE, cosine.min()
    assert np.abs(ours - theirs).max() <= ABS


def test_embeddings_equal_sentence_transformers(encoder, reference, texts):
    assert max(len(encoder.tokenizer.tokenize(t)) for t in texts) > 256  # the limit is exercised
    assert_same_embeddings(encoder.encode(texts, batch_size=4), reference.encode(texts, batch_size=4))


def test_the_layout_is_read(encoder):
    assert (encoder.max_seq_length, encoder.pooling.modes, encoder.normalize, encoder.dimension) == (256, ("mean",), True, 384)


def test_output_types_as_sentence_transformers(encoder, reference, texts):
    one = encoder.encode(texts[0])
    assert isinstance(one, np.ndarray) and one.shape == (384,)
    as_tensor = encoder.encode(texts[:3], convert_to_tensor=True)
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape == (3, 384)
    as_list = encoder.encode(texts[:3], convert_to_numpy=False)
    assert isinstance(as_list, list) and all(isinstance(v, torch.Tensor) and v.shape == (384,) for v in as_list)
    assert_same_embeddings(as_tensor.numpy(), reference.encode(texts[:3]))


def test_an_empty_list_gives_an_empty_result(encoder, reference):
    assert encoder.encode([]).shape == reference.encode([]).shape == (0,)
    assert encoder.encode([], convert_to_numpy=False) == []


def test_prompt_and_normalize_embeddings(encoder, reference, texts):
    ours = encoder.encode(texts[:4], prompt="query: ", normalize_embeddings=True)
    assert_same_embeddings(ours, reference.encode(texts[:4], prompt="query: ", normalize_embeddings=True))


def test_similarity_is_the_cosine_matrix(encoder, reference, texts):
    a, b = encoder.encode(texts[:3]), encoder.encode(texts[3:8])
    torch.testing.assert_close(encoder.similarity(a, b), reference.similarity(a, b), atol=1e-6, rtol=0)


def test_progress_bar(encoder, texts, capsys):
    encoder.encode(texts, show_progress_bar=True)
    assert f"{len(texts)}/{len(texts)}" in capsys.readouterr().err


def test_a_non_string_is_named_by_index(encoder):
    with pytest.raises(TypeError, match=r"sentences\[2\] is a int"):
        encoder.encode(["a", "b", 3])


def model_variant(minilm_dir: Path, out: Path, pooling: dict | None = None, settings: dict | None = None,
                  modules: list[str] | None = None) -> Path:
    """A copy of the bundled model (weights linked, not copied) with other layout files."""
    out.mkdir()
    for item in minilm_dir.iterdir():
        if item.is_file() and item.name not in ("modules.json", "sentence_bert_config.json"):
            (out / item.name).symlink_to(item)
    if modules is not None:
        paths = {"Transformer": "", "Pooling": "1_Pooling", "Normalize": "2_Normalize"}
        entries = [{"idx": i, "name": str(i), "path": paths[m], "type": f"sentence_transformers.models.{m}"} for i, m in enumerate(modules)]
        (out / "modules.json").write_text(json.dumps(entries))
        (out / "sentence_bert_config.json").write_text(json.dumps(settings or {"max_seq_length": 256, "do_lower_case": False}))
        if "Pooling" in modules:
            (out / "1_Pooling").mkdir()
            (out / "1_Pooling" / "config.json").write_text(json.dumps(pooling or {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True}))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("mode", POOLING_MODES)
def test_every_pooling_mode_equals_sentence_transformers(minilm_dir, tmp_path, texts, mode):
    path = model_variant(minilm_dir, tmp_path / mode, {"word_embedding_dimension": 384, "pooling_mode": mode},
                         modules=["Transformer", "Pooling"])
    reference = sentence_transformers.SentenceTransformer(str(path), device="cpu")
    assert_same_embeddings(SentenceEncoder.from_pretrained(path).encode(texts[:6]), reference.encode(texts[:6]))


def test_max_seq_length_and_do_lower_case_are_read(minilm_dir, tmp_path, texts):
    path = model_variant(minilm_dir, tmp_path / "m", settings={"max_seq_length": 16, "do_lower_case": True},
                         pooling={"word_embedding_dimension": 384, "pooling_mode_cls_token": True, "pooling_mode_max_tokens": True},
                         modules=["Transformer", "Pooling", "Normalize"])
    encoder = SentenceEncoder.from_pretrained(path)
    assert (encoder.max_seq_length, encoder.do_lower_case, encoder.pooling.modes, encoder.dimension) == (16, True, ("cls", "max"), 768)
    reference = sentence_transformers.SentenceTransformer(str(path), device="cpu")
    assert_same_embeddings(encoder.encode(texts[-6:]), reference.encode(texts[-6:]))


def test_a_plain_bert_checkpoint_gets_mean_pooling_said_once(minilm_dir, tmp_path, texts):
    path = model_variant(minilm_dir, tmp_path / "plain")
    with pytest.warns(UserWarning, match="no modules.json .* mean pooling") as caught:
        encoder = SentenceEncoder.from_pretrained(path)
        encoder.encode(texts[:3])
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = sentence_transformers.SentenceTransformer(str(path), device="cpu")
    assert (encoder.pooling.modes, encoder.normalize, encoder.max_seq_length) == (("mean",), False, 512)
    assert_same_embeddings(encoder.encode(texts[:6]), reference.encode(texts[:6]))


def test_an_unknown_pooling_mode_in_the_config_is_named(minilm_dir, tmp_path):
    path = model_variant(minilm_dir, tmp_path / "bad", {"pooling_mode": "median"}, modules=["Transformer", "Pooling"])
    with pytest.raises(ValueError, match=r"1_Pooling/config.json: unknown pooling mode 'median'; the modes are: cls, max"):
        SentenceEncoder.from_pretrained(path)


def test_a_module_it_cannot_run_is_refused(minilm_dir, tmp_path):
    path = model_variant(minilm_dir, tmp_path / "dense", modules=["Transformer", "Pooling"])
    entries = json.loads((path / "modules.json").read_text())
    entries.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (path / "modules.json").write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="names a sentence_transformers.models.Dense module; SentenceEncoder reads only Transformer, Pooling, Normalize"):
        SentenceEncoder.from_pretrained(path)


@pytest.mark.parametrize("implementation", ["eager", "unpadded"])
def test_every_attention_implementation_gives_the_same_vectors(minilm_dir, encoder, texts, implementation):
    other = SentenceEncoder.from_pretrained(minilm_dir, attn_implementation=implementation)
    assert_same_embeddings(other.encode(texts, batch_size=5), encoder.encode(texts, batch_size=5))
