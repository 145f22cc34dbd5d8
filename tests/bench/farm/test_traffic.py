"""The many-bots measurements on a real server process over two bots of the example export."""

from __future__ import annotations

from pathlib import Path

from bench.farm.traffic import measure_start, reload_under_traffic, run_load, server


def test_start_load_and_reload_are_measured_on_a_real_server(two_bots: Path) -> None:
    started = measure_start(two_bots, 2)
    assert started.bots == 2 and started.rss_mb > 50 and started.start_to_serving_s > 0
    with server(two_bots, ["--watch", "0.2", "--grace-seconds", "0.5"]) as running:
        load = run_load(running.target, ["alpha", "beta"], clients=4, seconds=1.0)
        assert load.requests > 0 and load.errors == {} and load.bots == 2
        during, swapped = reload_under_traffic(
            running.target, two_bots, ["alpha", "beta"], "beta", clients=4
        )
    assert during.errors == {} and during.requests > 0 and swapped > 0
