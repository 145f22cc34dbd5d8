"""Hot reload on a real server with the real model: swaps under traffic, refused candidates,
pointer watching, memory over repeated swaps."""

from __future__ import annotations

import gc
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from intent_server.client import IntentClient
from intent_server.core.manifest import Manifest
from intent_server.process import running_server
from intent_server.serving.errors import ModelNotFound
from intent_server.serving.registry import ModelRegistry, RunnerSettings
from intent_server.serving.reload import (
    FAILED,
    SWAPPED,
    UNCHANGED,
    PointerWatcher,
    Reloader,
    ReloadTrigger,
    verified_loader,
)
from tests.fixtures.export import detach, link_version
from tests.fixtures.server import example_server_config
from tests.fixtures.waiting import wait_until

LOAD = verified_loader(1, "auto", RunnerSettings())


def add_version(export_dir: Path, source: Path, version: str, model: str = "default") -> Path:
    """A hard-linked copy of `source` as version `version` (manifest rewritten), not current."""
    first = not (export_dir / model / "current").exists()
    target = link_version(source, export_dir, model, version)
    if first:
        point(export_dir, version, model)
    return target


def point(export_dir: Path, version: str, model: str = "default") -> None:
    """Switch `current` atomically, as the exporter does."""
    pointer = export_dir / model / "current"
    temp = pointer.with_name(".current.tmp")
    temp.write_text(version + "\n", encoding="utf-8")
    os.replace(temp, pointer)


@pytest.fixture
def export_dir(exported_example_version: Path, tmp_path: Path) -> Path:
    export_dir = tmp_path / "exported"
    for version in ("v1", "v2", "v3", "v4"):
        add_version(export_dir, exported_example_version, version)
    return export_dir


@pytest.fixture
def registry(export_dir: Path) -> Iterator[ModelRegistry]:
    registry = ModelRegistry()
    registry.add(LOAD("default", export_dir / "default" / "v1"))
    yield registry
    registry.close()


def test_swaps_under_traffic_lose_no_call_and_switch_once(
    export_dir: Path, registry: ModelRegistry
) -> None:
    reloader = Reloader(registry, LOAD, export_dir, retire_after_s=0.2)
    seen: list[list[str]] = [[] for _ in range(4)]
    errors: list[BaseException] = []
    stop = threading.Event()
    with running_server(example_server_config(export_dir), registry=registry) as server:

        def traffic(index: int) -> None:
            texts = ["set an alarm for 7", "hello there", "play some jazz"]
            with IntentClient(server.address, timeout=30) as client:
                while not stop.is_set():
                    try:
                        result = client.classify(texts[len(seen[index]) % 3])
                        seen[index].append(result.model_version)
                    except BaseException as exc:  # every failure counts
                        errors.append(exc)
                        return

        threads = [threading.Thread(target=traffic, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: all(seen))
            for version in ("v2", "v3", "v4"):
                point(export_dir, version)
                (result,) = reloader.reload()
                assert (result.outcome, result.serving_version) == (SWAPPED, version)

                def switched(version: str = version) -> bool:
                    return all(s and s[-1] == version for s in seen) or bool(errors)

                wait_until(switched)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        reloader.close()
    assert not errors, errors
    for versions in seen:
        switches = [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
        assert switches == ["v1", "v2", "v3", "v4"]  # each swap seen exactly once, in order


def corrupt_head(version_dir: Path) -> None:
    manifest = Manifest.read(version_dir)
    head = detach(version_dir / manifest.head_for(manifest.default_encoder))  # the served one
    data = bytearray(head.read_bytes())
    data[len(data) // 2] ^= 0xFF
    head.write_bytes(bytes(data))


def drop_label(version_dir: Path) -> None:
    manifest_path = detach(version_dir / "manifest.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["labels"] = manifest["labels"][:-1]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (corrupt_head, r"sha256"),
        (drop_label, r"classes but the manifest lists"),
        (lambda d: (d / "tokenizer.json").unlink(), r"tokenizer\.json"),
    ],
)
def test_broken_candidate_leaves_the_old_version_serving(
    export_dir: Path, registry: ModelRegistry, damage: Callable[[Path], None], message: str
) -> None:
    reloader = Reloader(registry, LOAD, export_dir, retire_after_s=0.0)
    damage(export_dir / "default" / "v2")
    point(export_dir, "v2")
    with running_server(example_server_config(export_dir), registry=registry) as server:
        (result,) = reloader.reload()
        assert result.outcome == FAILED
        assert (result.serving_version, result.candidate_version) == ("v1", "v2")
        assert re.search(message, result.error), result.error
        assert str(export_dir) not in result.error  # no server paths in what clients see
        assert reloader.last_results["default"] == result
        with IntentClient(server.address, timeout=30) as client:
            answer = client.classify("set an alarm for 7")
            assert (answer.intent, answer.model_version) == ("set_alarm", "v1")
            assert client.health() == "SERVING"
        point(export_dir, "v3")  # a good candidate afterwards goes through
        (result,) = reloader.reload()
        assert (result.outcome, result.serving_version) == (SWAPPED, "v3")
        with IntentClient(server.address, timeout=30) as client:
            assert client.classify("set an alarm for 7").model_version == "v3"
    reloader.close()


def test_unchanged_pointer_and_unknown_model(export_dir: Path, registry: ModelRegistry) -> None:
    reloader = Reloader(registry, LOAD, export_dir, retire_after_s=0.0)
    (result,) = reloader.reload()
    assert (result.outcome, result.serving_version) == (UNCHANGED, "v1")
    (result,) = reloader.reload(force=True)
    assert (result.outcome, result.serving_version) == (SWAPPED, "v1")
    with pytest.raises(ModelNotFound) as info:
        reloader.reload(["nope"])
    assert "'nope' is not loaded" in str(info.value)
    reloader.close()


def test_pointer_watcher_and_sighup_trigger(export_dir: Path, registry: ModelRegistry) -> None:
    reloader = Reloader(registry, LOAD, export_dir, retire_after_s=0.0)
    watcher = PointerWatcher(reloader, export_dir, ["default"], interval_s=0)
    assert watcher.check() == []
    point(export_dir, "v2")
    (result,) = watcher.check()
    assert (result.outcome, result.serving_version) == (SWAPPED, "v2")
    assert watcher.check() == []  # reloaded once per pointer change
    corrupt_head(export_dir / "default" / "v3")
    point(export_dir, "v3")
    assert [r.outcome for r in watcher.check()] == [FAILED]
    assert watcher.check() == []  # a broken candidate is not retried on every poll
    watcher.stop()

    trigger = ReloadTrigger(reloader)
    point(export_dir, "v4")
    trigger.request()
    wait_until(lambda: trigger.runs >= 1)
    assert registry.get().version == "v4"
    trigger.stop()
    reloader.close()


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+)", status)
    assert match is not None
    return int(match.group(1)) / 1024


def test_memory_returns_to_its_level_after_repeated_swaps(
    export_dir: Path, registry: ModelRegistry
) -> None:
    reloader = Reloader(registry, LOAD, export_dir, retire_after_s=0.0)

    def swaps(count: int) -> None:
        for i in range(count):
            point(export_dir, ("v2", "v3", "v4", "v1")[i % 4])
            (result,) = reloader.reload()
            assert result.outcome == SWAPPED
            registry.get().runner.submit(["set an alarm for 7"]).result(timeout=30)
        reloader.close()
        gc.collect()

    swaps(2)  # allocator pools and caches reach their working size
    before = rss_mb()
    swaps(4)
    grown = rss_mb() - before
    print(f"RSS {before:.1f} MB, grew {grown:.1f} MB over 4 swaps")
    # One loaded model costs ~100 MB (ORT sessions, tokenizer); keeping every old version
    # would add hundreds of MB in 4 swaps; allocator noise is a few MB.
    assert grown < 30, f"RSS grew {grown:.1f} MB over 4 swaps"
