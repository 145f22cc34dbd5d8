"""Several bots on one encoder in a real server process (`--model all`): each answers with
its own head, and re-exporting one under traffic to all fails no call of any bot."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from bench.farm.copies import make_bot
from intent_server.client import IntentClient
from intent_server.core.exports import resolve_current
from tests.fixtures.server import ServerProcess
from tests.fixtures.waiting import wait_until

TEXTS = ["wake me up at 7", "what's the weather in paris", "thanks a lot", "play some jazz"]


def test_reloading_one_of_several_bots_under_traffic_fails_no_call(
    two_bots: Path, exported_example_version: Path
) -> None:
    make_bot(exported_example_version, two_bots, "gamma", seed=2)
    args = ["--port", "0", "--export-dir", str(two_bots), "--model", "all", "--threads", "2"]
    args += ["--watch", "0.2", "--grace-seconds", "1", "--cache-size", "0"]
    server = ServerProcess(args, dict(os.environ))
    try:
        server.wait_serving()
        bots = ("alpha", "beta", "gamma")
        errors: list[BaseException] = []
        answered = dict.fromkeys(bots, 0)
        stop = threading.Event()

        def traffic(offset: int) -> None:
            with IntentClient(server.address, timeout=30) as client:
                index = offset
                while not stop.is_set():
                    bot = bots[index % len(bots)]
                    try:
                        client.classify(TEXTS[index % len(TEXTS)], model=bot)
                        answered[bot] += 1
                    except Exception as exc:  # every failure is a defect here
                        errors.append(exc)
                    index += 1

        threads = [threading.Thread(target=traffic, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        with IntentClient(server.address, timeout=30) as client:
            before = {bot: client.model_info(bot).version for bot in bots}
            wait_until(lambda: min(answered.values()) > 3)
            new = make_bot(resolve_current(two_bots, "beta"), two_bots, "beta", 7, "next")
            wait_until(lambda: client.model_info("beta").version == new.name, timeout=120)
            seen = dict(answered)
            wait_until(lambda: all(answered[bot] > seen[bot] + 10 for bot in bots), timeout=120)
            stop.set()
            for thread in threads:
                thread.join()
            assert not errors, errors[:3]
            assert client.model_info("alpha").version == before["alpha"]
            assert client.model_info("gamma").version == before["gamma"]
            answers = {bot: client.classify_raw(TEXTS[0], 0, bot, True) for bot in bots}
        scores = {tuple(round(s.confidence, 5) for s in a.ranking) for a in answers.values()}
        assert len(scores) == 3  # each bot its own head
        assert "reloaded model 'beta'" in server.log
    finally:
        server.terminate()
