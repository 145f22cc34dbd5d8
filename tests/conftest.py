"""Test-wide settings: offline model loading, and the shared fixture modules."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = ["tests.fixtures.training", "tests.fixtures.export", "tests.fixtures.server"]
