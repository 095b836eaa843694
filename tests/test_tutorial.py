"""The classic BERT fine-tuning tutorial code, run unchanged except for its import line, on the
real all-MiniLM-L6-v2 checkpoint (a handful of sentences, two steps). Then the fine-tuned
model is saved and transformers, given the same inputs, must agree within 1e-5."""

from __future__ import annotations

import warnings

import pytest
import torch

transformers = pytest.importorskip("transformers")

SENTENCES = [
    "The food was wonderful and the staff were friendly.",
    "I will never come back to this awful place.",
    "A delightful film with a clever plot.",
    "The battery died after one day.",
    "Absolutely loved the concert.",
    "The room was dirty and noisy.",
]
LABELS = [1, 0, 1, 0, 1, 0]


def test_tutorial_code_runs_with_only_the_import_swapped(minilm_dir, tmp_path):
    path = str(minilm_dir)
    # ---- the tutorial, as written for transformers, with this one line changed ----
    from minibert import BertTokenizer, BertForSequenceClassification

    tokenizer = BertTokenizer.from_pretrained(path)
    input_ids = []
    attention_masks = []
    for sent in SENTENCES:
        encoded_dict = tokenizer.encode_plus(
            sent,
            add_special_tokens=True,
            max_length=64,
            pad_to_max_length=True,
            return_attention_mask=True,
            return_tensors='pt',
        )
        input_ids.append(encoded_dict['input_ids'])
        attention_masks.append(encoded_dict['attention_mask'])
    input_ids = torch.cat(input_ids, dim=0)
    attention_masks = torch.cat(attention_masks, dim=0)
    labels = torch.tensor(LABELS)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "classifier.* newly initialised", as with transformers
        model = BertForSequenceClassification.from_pretrained(
            path, num_labels=2, output_attentions=False, output_hidden_states=False
        )
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, eps=1e-8)

    model.train()
    losses = []
    for step in range(2):
        model.zero_grad()
        outputs = model(input_ids, token_type_ids=None, attention_mask=attention_masks, labels=labels)
        loss = outputs[0]
        losses.append(loss.item())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    model.eval()
    with torch.no_grad():
        outputs = model(input_ids, token_type_ids=None, attention_mask=attention_masks)
    logits = outputs.logits
    probs = torch.softmax(logits, dim=1)
    # ---- end of the tutorial ----

    assert input_ids.shape == attention_masks.shape == (6, 64)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert outputs[0] is logits and probs.shape == (6, 2)
    torch.testing.assert_close(probs.sum(1), torch.ones(6))

    # The same ids as transformers' tokenizer gives, and the fine-tuned model gives the same
    # logits in transformers (fp32, 1e-5 absolute).
    reference_tokenizer = transformers.BertTokenizerFast.from_pretrained(path)
    reference_ids = torch.cat([reference_tokenizer(s, max_length=64, padding="max_length", truncation=True, return_tensors="pt")["input_ids"] for s in SENTENCES])
    assert torch.equal(input_ids, reference_ids)
    model.save_pretrained(tmp_path)
    theirs = transformers.BertForSequenceClassification.from_pretrained(tmp_path, attn_implementation="eager").eval()
    with torch.no_grad():
        reference = theirs(input_ids, attention_mask=attention_masks).logits
    torch.testing.assert_close(logits, reference, atol=1e-5, rtol=0)
