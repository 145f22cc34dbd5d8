"""Test-wide settings: offline model loading, the shared fixtures, and the `slow` marker.

Every test that needs the trained example model (directly or through the export, registry
or server fixtures built on it) is marked `slow` here, so `make test-fast`
(`pytest -m "not slow"`) neither trains nor exports. Tests that train or export on their
own are marked `slow` in their module.
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = [
    "tests.fixtures.training",
    "tests.fixtures.export",
    "tests.fixtures.server",
    "tests.fixtures.http",
    "tests.fixtures.certs",
    "tests.fixtures.disks",
    "tests.fixtures.entities",
]

# The roots of the fixtures that train or export (the others depend on them), and the
# shared embedding cache that tests which train for themselves use.
TRAINING_FIXTURES = frozenset(
    {"trained_example_model", "embedding_cache_dir", "trained_entity_model"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
