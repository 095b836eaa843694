"""Task heads against their transformers counterparts with the same weights: outputs, loss and
every gradient (fp32, 1e-5 absolute), loading from backbone-only and full checkpoints (including
the original bert-base-uncased layout), and save/load round trips with transformers both ways."""

from __future__ import annotations

import warnings

import pytest
import torch

import minibert
from checkpoints import BERT_BASE_UNCASED, write_legacy_checkpoint
from conftest import DEVICES
from minibert import BertConfig, BertModel, CheckpointError, weights

transformers = pytest.importorskip("transformers")

SMALL = dict(BERT_BASE_UNCASED, vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=37, max_position_embeddings=64)
B, S, C = 3, 10, 4  # batch, sequence length, choices
ATOL = 1e-5


def make_inputs(name: str, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Inputs with padding in one row, and labels (with -100 where the head allows it)."""
    shape = (B, C, S) if name == "BertForMultipleChoice" else (B, S)
    ids = torch.randint(1, SMALL["vocab_size"], shape, generator=g)
    mask = torch.ones(shape, dtype=torch.long)
    mask[1, ..., S - 3:] = 0
    types = torch.zeros(shape, dtype=torch.long)
    types[..., S // 2:] = 1
    batch = dict(input_ids=ids, attention_mask=mask, token_type_ids=types)
    if name == "BertForSequenceClassification":
        batch["labels"] = torch.tensor([0, 2, 1])
    elif name == "BertForTokenClassification":
        labels = torch.randint(0, 3, (B, S), generator=g)
        labels[mask == 0] = -100
        batch["labels"] = labels
    elif name == "BertForQuestionAnswering":
        batch["start_positions"] = torch.tensor([1, 4, 50])  # 50: outside the sequence, ignored
        batch["end_positions"] = torch.tensor([3, 6, 2])
    elif name == "BertForMultipleChoice":
        batch["labels"] = torch.tensor([3, 0, 1])
    elif name in ("BertForMaskedLM", "BertForPreTraining"):
        labels = torch.full((B, S), -100)
        labels[:, 2] = ids[:, 2]
        labels[0, 5] = 7
        batch["labels"] = labels
        if name == "BertForPreTraining":
            batch["next_sentence_label"] = torch.tensor([0, 1, 1])
    elif name == "BertForNextSentencePrediction":
        batch["labels"] = torch.tensor([1, 0, 1])
    return batch


HEADS = [cls.__name__ for cls in minibert.heads.HEAD_CLASSES]
# Extra configurations of the sequence classifier: its three loss rules.
CASES = [(name, {}) for name in HEADS] + [
    ("BertForSequenceClassification", {"num_labels": 1}),  # regression
    ("BertForSequenceClassification", {"problem_type": "multi_label_classification"}),
]


def case_labels(name, extra, batch, g):
    if extra.get("num_labels") == 1:
        batch["labels"] = torch.randn(B, generator=g)
    elif extra.get("problem_type") == "multi_label_classification":
        batch["labels"] = torch.randint(0, 2, (B, 3), generator=g).float()
    return batch


def reference_pair(name: str, extra: dict, directory, device="cpu", **options):
    """A random transformers model saved to `directory`, and minibert's load of that directory."""
    torch.manual_seed(1)
    num_labels = 2 if name == "BertForQuestionAnswering" else 3  # transformers' QA head has num_labels outputs
    config = transformers.BertConfig(**{"num_labels": num_labels, **SMALL, **extra})
    theirs = getattr(transformers, name)(config)
    theirs.save_pretrained(directory)
    theirs = getattr(transformers, name).from_pretrained(directory, attn_implementation="eager").to(device).eval()
    ours = getattr(minibert, name).from_pretrained(directory, device=device, **options)
    return ours, theirs


def assert_outputs_close(ours, theirs, real=None):
    """Every field equal; with `real` (the attention mask), per-token fields only at real
    tokens: the default path leaves zeros at pads, transformers values computed from pads."""
    our_fields, their_fields = ours.keys(), [k for k, v in theirs.items() if v is not None]
    assert our_fields == their_fields
    for key in our_fields:
        for a, b in zip(*((t,) if torch.is_tensor(t) else t for t in (ours[key], theirs[key])), strict=True):
            if real is not None and a.shape[:2] == real.shape:  # (B, S, ...): one value per token
                a, b = a[real], b[real]
            torch.testing.assert_close(a, b, atol=ATOL, rtol=0, msg=lambda m: f"{key}: {m}")


def assert_gradients_close(ours: minibert.heads.BertHeadModel, theirs):
    grads = {n: p.grad for n, p in ours.named_parameters()}
    assert all(g is not None for g in grads.values()), [n for n, g in grads.items() if g is None]
    ours_by_checkpoint_name = weights.to_checkpoint_state(grads, ours.checkpoint_key_map())
    their_grads = {n: p.grad for n, p in theirs.named_parameters() if p.grad is not None}
    assert set(ours_by_checkpoint_name) == set(their_grads)
    for key, grad in ours_by_checkpoint_name.items():
        torch.testing.assert_close(grad, their_grads[key], atol=ATOL, rtol=0, msg=lambda m: f"grad of {key}: {m}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["default", "sdpa"])
@pytest.mark.parametrize("name,extra", CASES, ids=[n + "".join(f"-{v}" for v in e.values()) for n, e in CASES])
def test_head_matches_transformers_outputs_loss_and_gradients(tmp_path, name, extra, impl, device):
    """The default (unpadded) path on real tokens, "sdpa" at every position, pads included."""
    options = {} if impl == "default" else {"attn_implementation": impl}
    ours, theirs = reference_pair(name, extra, tmp_path, device, **options)
    assert ours.loading_info.initialized_keys == [] and ours.loading_info.unexpected_keys == []
    g = torch.Generator().manual_seed(0)
    batch = {k: v.to(device) for k, v in case_labels(name, extra, make_inputs(name, g), g).items()}

    our_out = ours(**batch, output_hidden_states=True)
    their_out = theirs(**batch, output_hidden_states=True)
    assert our_out.loss is not None
    real = batch["attention_mask"].reshape(-1, S).bool() if impl == "default" else None
    assert_outputs_close(our_out, their_out, real)
    our_out.loss.backward()
    their_out.loss.backward()
    assert_gradients_close(ours, theirs)


LENGTHS = (10, 7, 3, 1, 9, 4)  # right padding, mixed lengths, one sequence of a single token


def mixed_length_batch(name: str, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Right-padded rows of LENGTHS (each choice of a multiple-choice row its own length),
    labels -100 at every pad, as collators write them."""
    n = len(LENGTHS)
    shape = (n, C, S) if name == "BertForMultipleChoice" else (n, S)
    lengths = torch.tensor(LENGTHS)
    if name == "BertForMultipleChoice":
        lengths = torch.stack([lengths.roll(c) for c in range(C)], 1)  # (n, C)
    mask = (torch.arange(S) < lengths[..., None]).long()
    ids = torch.randint(1, SMALL["vocab_size"], shape, generator=g) * mask
    types = (torch.arange(S) >= (lengths[..., None] // 2)).long() * mask
    batch = dict(input_ids=ids, attention_mask=mask, token_type_ids=types)
    if name in ("BertForSequenceClassification", "BertForNextSentencePrediction"):
        batch["labels"] = torch.randint(0, 2, (n,), generator=g)
    elif name == "BertForMultipleChoice":
        batch["labels"] = torch.randint(0, C, (n,), generator=g)
    elif name == "BertForTokenClassification":
        batch["labels"] = torch.randint(0, 3, shape, generator=g).masked_fill(mask == 0, -100)
    elif name == "BertForQuestionAnswering":
        batch["start_positions"] = torch.tensor([1, 2, 0, 0, 5, 3])
        batch["end_positions"] = torch.tensor([4, 6, 2, 0, 8, 3])
    else:  # masked LM, pre-training: a few real tokens to predict
        batch["labels"] = torch.where((torch.rand(shape, generator=g) < 0.3) & (mask == 1), ids, -100)
        if name == "BertForPreTraining":
            batch["next_sentence_label"] = torch.randint(0, 2, (n,), generator=g)
    return batch


def predictions(name: str, out, real: torch.Tensor) -> list:
    """What a user reads off the outputs: the argmax class per sequence, per real token, or the
    most likely answer start and end among the real tokens."""
    if name == "BertForQuestionAnswering":
        return [t.masked_fill(~real, float("-inf")).argmax(-1).tolist() for t in (out.start_logits, out.end_logits)]
    if name == "BertForPreTraining":
        return [out.prediction_logits.argmax(-1)[real].tolist(), out.seq_relationship_logits.argmax(-1).tolist()]
    if out.logits.dim() == 3:  # per token
        return out.logits.argmax(-1)[real].tolist()
    return out.logits.argmax(-1).tolist()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", HEADS)
def test_default_path_gives_the_padded_paths_loss_gradients_and_predictions(name, device):
    """The default (unpadded on right-padded batches) against "sdpa" (always padded), same
    weights: losses and predictions equal, gradients within fp32 1e-5 absolute plus 1e-5
    relative (a weight's gradient sums over every token in another order; see test_unpad.py)."""
    config = dict(SMALL, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, id2label={0: "a", 1: "b", 2: "c"})
    default = getattr(minibert, name)(BertConfig(**config)).to(device)
    padded = getattr(minibert, name)(BertConfig(**config, attn_implementation="sdpa")).to(device)
    padded.load_state_dict(default.state_dict())
    assert default.config.attn_implementation == "unpadded"
    batch = {k: v.to(device) for k, v in mixed_length_batch(name, torch.Generator().manual_seed(0)).items()}
    real = batch["attention_mask"].reshape(-1, S).bool()
    if name == "BertForMultipleChoice":
        real = None  # one score per choice: nothing per token to compare
    outs = []
    for model in (default, padded):
        model.train()  # dropout is 0: deterministic, and gradients flow as in fine-tuning
        out = model(**batch)
        out.loss.backward()
        outs.append(out)
    torch.testing.assert_close(outs[0].loss, outs[1].loss, atol=ATOL, rtol=0)
    for (key, a), b in zip(default.named_parameters(), padded.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=ATOL, rtol=1e-5, msg=lambda m: f"grad of {key}: {m}")
    unlabelled = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        a, b = (model.eval()(**unlabelled) for model in (default, padded))
    if real is not None:
        assert predictions(name, a, real) == predictions(name, b, real)
    for key in a.keys():
        x, y = getattr(a, key), getattr(b, key)
        if real is not None and x.shape[:2] == real.shape:  # per token: real tokens only
            x, y = x[real], y[real]
        torch.testing.assert_close(x, y, atol=ATOL, rtol=0, msg=lambda m: f"{key}: {m}")


@pytest.mark.parametrize("name", ["BertForTokenClassification", "BertForMaskedLM", "BertForPreTraining"])
def test_a_label_on_a_pad_gets_the_padded_paths_loss_and_gradients(name):
    """Collators write -100 at pads; a label there anyway makes the loss read the pad's output,
    so the default runs the padded path and agrees with "sdpa" (fp32 1e-5)."""
    config = dict(SMALL, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, id2label={0: "a", 1: "b", 2: "c"})
    default = getattr(minibert, name)(BertConfig(**config))
    padded = getattr(minibert, name)(BertConfig(**config, attn_implementation="sdpa"))
    padded.load_state_dict(default.state_dict())
    batch = mixed_length_batch(name, torch.Generator().manual_seed(0))
    batch["labels"][1, S - 1] = 2  # row 1 has 7 tokens: position S - 1 is a pad
    losses = []
    for model in (default, padded):
        out = model(**batch)
        out.loss.backward()
        losses.append(out.loss)
    torch.testing.assert_close(losses[0], losses[1], atol=ATOL, rtol=0)
    for (key, a), b in zip(default.named_parameters(), padded.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=ATOL, rtol=1e-5, msg=lambda m: f"grad of {key}: {m}")


def test_outputs_index_like_a_tuple_with_the_loss_first(tmp_path):
    ours, _ = reference_pair("BertForSequenceClassification", {}, tmp_path)
    batch = make_inputs("BertForSequenceClassification", torch.Generator().manual_seed(0))
    with_labels = ours(**batch)
    assert with_labels[0] is with_labels.loss and with_labels[1] is with_labels.logits and len(with_labels) == 2
    batch.pop("labels")
    without = ours(**batch)
    assert without[0] is without.logits and without.loss is None
    loss, logits = ours(**batch, labels=torch.tensor([0, 1, 2]), return_dict=False)
    assert loss.ndim == 0 and logits.shape == (B, 3)


def test_ignored_labels_add_nothing_to_the_loss(tmp_path):
    ours, _ = reference_pair("BertForTokenClassification", {}, tmp_path)
    batch = make_inputs("BertForTokenClassification", torch.Generator().manual_seed(0))
    labels = batch.pop("labels")
    logits = ours(**batch).logits
    keep = labels != -100
    expected = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
    torch.testing.assert_close(ours(**batch, labels=labels).loss, expected, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="outside 0..2"):
        ours(**batch, labels=torch.full((B, S), 3))


def test_qa_loss_is_the_mean_of_start_and_end_cross_entropy(tmp_path):
    # "sdpa": the logits at pads are the padded path's, which the loss (run padded) sees too.
    ours, _ = reference_pair("BertForQuestionAnswering", {}, tmp_path, attn_implementation="sdpa")
    batch = make_inputs("BertForQuestionAnswering", torch.Generator().manual_seed(0))
    start, end = batch.pop("start_positions")[:2], batch.pop("end_positions")[:2]
    batch = {k: v[:2] for k, v in batch.items()}
    out = ours(**batch)
    expected = (torch.nn.functional.cross_entropy(out.start_logits, start) + torch.nn.functional.cross_entropy(out.end_logits, end)) / 2
    torch.testing.assert_close(ours(**batch, start_positions=start, end_positions=end).loss, expected, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="both start_positions and end_positions"):
        ours(**batch, start_positions=start)


@pytest.mark.parametrize("name", HEADS)
def test_loads_from_a_backbone_only_checkpoint_and_names_the_new_weights(tmp_path, name):
    torch.manual_seed(0)
    backbone = BertModel(BertConfig(**SMALL))
    backbone.save_pretrained(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = getattr(minibert, name).from_pretrained(tmp_path)
    new = [str(w.message) for w in caught if "newly initialised" in str(w.message)]
    assert len(new) == 1
    initialized = model.loading_info.initialized_keys
    assert initialized and all(not k.startswith("bert.") for k in initialized)
    assert all(k in new[0] for k in initialized)
    # The backbone is the checkpoint's, exactly.
    torch.testing.assert_close(model.bert.encoder.layers[0].attention.qkv.weight, backbone.encoder.layers[0].attention.qkv.weight, atol=0, rtol=0)
    # The new head is initialised as BERT's are: normal(0, 0.02) weights, zero biases, identity LayerNorm.
    for key in initialized:
        tensor = model.state_dict()[key]
        assert torch.isfinite(tensor).all()
        if key.endswith("bias"):
            assert (tensor == 0).all()


def test_bert_base_legacy_layout_fills_both_pretraining_heads(tmp_path):
    """The original bert-base-uncased files: `cls.predictions.*` (with `cls.predictions.bias` and a
    copy of the embeddings as decoder weight), `cls.seq_relationship.*`, LayerNorm gamma/beta."""
    config = dict(SMALL)
    write_legacy_checkpoint(tmp_path, config, "bin")
    ours = minibert.BertForPreTraining.from_pretrained(tmp_path)
    assert ours.loading_info.initialized_keys == [] and ours.loading_info.unexpected_keys == []
    theirs = transformers.BertForPreTraining.from_pretrained(tmp_path, attn_implementation="eager").eval()
    batch = make_inputs("BertForPreTraining", torch.Generator().manual_seed(0))
    assert_outputs_close(ours(**batch), theirs(**batch), real=batch["attention_mask"].bool())

    mlm = minibert.BertForMaskedLM.from_pretrained(tmp_path)
    assert mlm.loading_info.initialized_keys == []
    # BertForMaskedLM has no pooler and no NSP head: those keys are reported, not loaded.
    assert set(mlm.loading_info.unexpected_keys) == {
        "bert.pooler.dense.weight", "bert.pooler.dense.bias", "cls.seq_relationship.weight", "cls.seq_relationship.bias"}
    nsp = minibert.BertForNextSentencePrediction.from_pretrained(tmp_path)
    assert nsp.loading_info.initialized_keys == []
    batch.pop("labels"), batch.pop("next_sentence_label")
    torch.testing.assert_close(nsp(**batch).logits, theirs(**batch).seq_relationship_logits, atol=ATOL, rtol=0)


def test_masked_lm_decoder_is_the_word_embedding_matrix_through_training_and_saving(tmp_path):
    ours, _ = reference_pair("BertForMaskedLM", {}, tmp_path / "ref")
    assert ours.get_output_embeddings() is ours.bert.embeddings.word_embeddings.weight
    ours.train()
    optimizer = torch.optim.SGD(ours.parameters(), lr=1.0)
    ours(**make_inputs("BertForMaskedLM", torch.Generator().manual_seed(0))).loss.backward()
    optimizer.step()
    ours.eval()
    ours.save_pretrained(tmp_path / "ours")
    written = weights.read_safetensors(tmp_path / "ours" / "model.safetensors")
    assert "cls.predictions.decoder.weight" not in written and "cls.predictions.bias" in written
    theirs, info = transformers.BertForMaskedLM.from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert info["missing_keys"] == set() or not info["missing_keys"]
    assert not info["unexpected_keys"]
    torch.testing.assert_close(theirs.cls.predictions.decoder.weight, ours.bert.embeddings.word_embeddings.weight, atol=0, rtol=0)
    again = minibert.BertForMaskedLM.from_pretrained(tmp_path / "ours")
    assert again.get_output_embeddings() is again.bert.embeddings.word_embeddings.weight
    batch = make_inputs("BertForMaskedLM", torch.Generator().manual_seed(1))
    assert_outputs_close(again(**batch), theirs.eval()(**batch), real=batch["attention_mask"].bool())


@pytest.mark.parametrize("name", HEADS)
def test_save_pretrained_loads_in_transformers_without_missing_or_unexpected_keys(tmp_path, name):
    ours, _ = reference_pair(name, {}, tmp_path / "ref")
    ours.save_pretrained(tmp_path / "ours")
    theirs, info = getattr(transformers, name).from_pretrained(tmp_path / "ours", output_loading_info=True, attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    batch = make_inputs(name, torch.Generator().manual_seed(0))
    assert_outputs_close(ours(**batch), theirs.eval()(**batch), real=batch["attention_mask"].reshape(-1, S).bool())


def test_num_labels_and_label_names_from_pretrained(tmp_path):
    torch.manual_seed(0)
    BertModel(BertConfig(**SMALL)).save_pretrained(tmp_path / "base")
    with pytest.warns(UserWarning, match="classifier.weight"):
        model = minibert.BertForSequenceClassification.from_pretrained(
            tmp_path / "base", num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"})
    assert model.classifier.out_features == 3 and model.config.label2id == {"neg": 0, "neu": 1, "pos": 2}
    model.save_pretrained(tmp_path / "three")
    assert minibert.BertForSequenceClassification.from_pretrained(tmp_path / "three").config.id2label[2] == "pos"
    # Another number of labels than the checkpoint's classifier: an error that names the key,
    # or a fresh classifier with ignore_mismatched_sizes=True.
    with pytest.raises(CheckpointError, match="classifier.weight"):
        minibert.BertForSequenceClassification.from_pretrained(tmp_path / "three", num_labels=5)
    with pytest.warns(UserWarning, match="shape mismatch"):
        five = minibert.BertForSequenceClassification.from_pretrained(tmp_path / "three", num_labels=5, ignore_mismatched_sizes=True)
    assert five.classifier.out_features == 5 and five.config.id2label[4] == "LABEL_4"


def test_multiple_choice_rejects_two_dimensional_input(tmp_path):
    ours, _ = reference_pair("BertForMultipleChoice", {}, tmp_path)
    with pytest.raises(ValueError, match="num_choices"):
        ours(torch.ones(2, 5, dtype=torch.long))


def test_classifier_dropout_overrides_hidden_dropout():
    model = minibert.BertForSequenceClassification(BertConfig(**SMALL, classifier_dropout=0.3))
    assert model.dropout.p == 0.3 and model.bert.embeddings.dropout.p == 0.1


@pytest.mark.parametrize("name", HEADS)
def test_config_json_names_the_class_that_saved_it(tmp_path, name):
    import json

    torch.manual_seed(0)
    BertModel(BertConfig(**SMALL)).save_pretrained(tmp_path / "base")  # "architectures": ["BertModel"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        head = getattr(minibert, name).from_pretrained(tmp_path / "base")
    head.save_pretrained(tmp_path / "tuned")
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["architectures"] == [name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(minibert, name).from_pretrained(tmp_path / "tuned")
    assert not [w for w in caught if "checkpoint (config.json" in str(w.message)]  # its own class: nothing to say


def test_loading_into_another_class_says_so_once(tmp_path):
    torch.manual_seed(0)
    model = minibert.BertForSequenceClassification(BertConfig(**SMALL))
    model.save_pretrained(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = BertModel.from_pretrained(tmp_path)
    notes = [str(w.message) for w in caught if "checkpoint (config.json" in str(w.message)]
    assert notes == [f"{tmp_path} holds a BertForSequenceClassification checkpoint (config.json's \"architectures\"); it is loaded into BertModel"]
    assert loaded.loading_info.checkpoint_class == "BertForSequenceClassification"


def test_a_pre_trained_encoder_starts_any_head_without_a_warning(tmp_path):
    """bert-base-uncased says BertForPreTraining, MiniLM BertModel: loading them into a head is
    the normal start of fine-tuning, noted in loading_info only."""
    torch.manual_seed(0)
    minibert.BertForPreTraining(BertConfig(**SMALL)).save_pretrained(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = minibert.BertForSequenceClassification.from_pretrained(tmp_path, num_labels=2)
    assert [str(w.message) for w in caught if "checkpoint (config.json" in str(w.message)] == []
    assert loaded.loading_info.checkpoint_class == "BertForPreTraining"
