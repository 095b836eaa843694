"""docs/architecture.md: the numbers it states about the model match the model. (Its code
excerpts are checked, with the other pages', in test_docs_excerpts.py.)"""

from __future__ import annotations

from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_parameter_count_table_matches_the_model():
    from minibert import BertConfig, BertModel
    import torch

    with torch.device("meta"):
        model = BertModel(BertConfig())
    assert f"**{model.num_parameters():,}**" in PAGE.read_text(encoding="utf-8")
