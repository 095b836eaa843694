"""Random-weight checkpoints written the way real ones are, for tests that need exact shapes."""

from __future__ import annotations

import json
from pathlib import Path

import torch

BERT_BASE_UNCASED = dict(
    vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu", layer_norm_eps=1e-12,
    hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02, pad_token_id=0,
)


def legacy_state_dict(config: dict, seed: int = 0, with_heads: bool = True) -> dict[str, torch.Tensor]:
    """The key layout of the original bert-base-uncased files: a `bert.` prefix,
    LayerNorm.gamma/beta, the position_ids buffer, and the pre-training heads."""
    g = torch.Generator().manual_seed(seed)
    H, I, V = config["hidden_size"], config["intermediate_size"], config["vocab_size"]

    def rand(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    def norm(prefix):
        # Not exactly identity, so a swapped gamma/beta would show.
        return {f"{prefix}.gamma": 1 + rand(H, std=0.1), f"{prefix}.beta": rand(H, std=0.1)}

    s = {
        "bert.embeddings.word_embeddings.weight": rand(V, H),
        "bert.embeddings.position_embeddings.weight": rand(config["max_position_embeddings"], H),
        "bert.embeddings.token_type_embeddings.weight": rand(config["type_vocab_size"], H),
        "bert.embeddings.position_ids": torch.arange(config["max_position_embeddings"])[None],
        **norm("bert.embeddings.LayerNorm"),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"bert.encoder.layer.{i}."
        for name in ("query", "key", "value"):
            s[p + f"attention.self.{name}.weight"] = rand(H, H)
            s[p + f"attention.self.{name}.bias"] = rand(H)
        s[p + "attention.output.dense.weight"], s[p + "attention.output.dense.bias"] = rand(H, H), rand(H)
        s.update(norm(p + "attention.output.LayerNorm"))
        s[p + "intermediate.dense.weight"], s[p + "intermediate.dense.bias"] = rand(I, H), rand(I)
        s[p + "output.dense.weight"], s[p + "output.dense.bias"] = rand(H, I), rand(H)
        s.update(norm(p + "output.LayerNorm"))
    s["bert.pooler.dense.weight"], s["bert.pooler.dense.bias"] = rand(H, H), rand(H)
    if with_heads:
        s["cls.predictions.bias"] = rand(V)
        s["cls.predictions.transform.dense.weight"], s["cls.predictions.transform.dense.bias"] = rand(H, H), rand(H)
        s.update(norm("cls.predictions.transform.LayerNorm"))
        s["cls.predictions.decoder.weight"] = s["bert.embeddings.word_embeddings.weight"]
        s["cls.seq_relationship.weight"], s["cls.seq_relationship.bias"] = rand(2, H), rand(2)
    return s


def write_config(directory: Path, config: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data = {"architectures": ["BertForPreTraining"], "model_type": "bert", **config}
    (directory / "config.json").write_text(json.dumps(data, indent=2))


def write_legacy_checkpoint(directory: Path, config: dict, fmt: str, seed: int = 0) -> Path:
    """fmt: "bin" (pytorch_model.bin), "safetensors", or "sharded" (safetensors shards + index)."""
    from safetensors.torch import save_file

    state = legacy_state_dict(config, seed)
    write_config(directory, config)
    if fmt == "bin":
        torch.save(state, directory / "pytorch_model.bin")
    elif fmt == "safetensors":
        state = {k: v.clone().contiguous() for k, v in state.items()}  # no shared tensors in safetensors
        save_file(state, directory / "model.safetensors", metadata={"format": "pt"})
    elif fmt == "sharded":
        keys = sorted(state)
        weight_map = {}
        for i, part in enumerate((keys[: len(keys) // 2], keys[len(keys) // 2 :]), start=1):
            name = f"model-{i:05d}-of-00002.safetensors"
            save_file({k: state[k].clone().contiguous() for k in part}, directory / name, metadata={"format": "pt"})
            weight_map.update({k: name for k in part})
        (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    else:
        raise ValueError(fmt)
    return directory
