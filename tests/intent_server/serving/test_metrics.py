"""Per-model metric series stay bounded with many bots (`--metrics-max-models`)."""

from __future__ import annotations

from prometheus_client import generate_latest

from intent_server.serving.metrics import OTHER_MODELS, ServerMetrics


def test_models_past_the_cap_count_under_other() -> None:
    metrics = ServerMetrics(max_models=3)
    names = [f"bot{number:04d}" for number in range(1000)]
    for name in names:
        metrics.observe_batch(name, 2)
        metrics.observe_cache(name, hit=True)
        metrics.count_reload(name, "swapped")
        metrics.watch_queue(name, lambda: 1)
        metrics.set_model_version(name, "v1", "int8")
    text = generate_latest(metrics.registry).decode()
    batch_models = {
        line.split('model="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("intent_server_batch_size_count")
    }
    assert batch_models == {"bot0000", "bot0001", "bot0002", OTHER_MODELS}
    assert f'intent_server_batch_size_count{{model="{OTHER_MODELS}"}} 997.0' in text
    assert f'intent_server_queue_depth{{model="{OTHER_MODELS}"}} 997.0' in text
    assert text.count("intent_server_model_loaded{") == 1000  # the inventory names every bot


def test_a_model_keeps_its_label_once_given() -> None:
    metrics = ServerMetrics(max_models=1)
    assert metrics.model_label("default") == "default"
    assert metrics.model_label("other-bot") == OTHER_MODELS
    assert metrics.model_label("default") == "default"
