"""`intent-client` as a subprocess against the session's real server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from intent_server.client.cli import CLIENT, build_parser
from intent_server.process import IntentServer


def client_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intent_server.client.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_classify_prints_a_table(intent_server: IntentServer) -> None:
    done = client_cli("classify", "book me a flight to tokyo", "--target", intent_server.address)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "intent:        book_flight" in out and "out of scope:  no" in out
    assert "rank  intent" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert rows[0][:2] == ["1", "book_flight"] and len(rows) == 10
    assert float(rows[0][2]) > float(rows[1][2])


def test_classify_out_of_scope_shows_reason_and_best_guess(intent_server: IntentServer) -> None:
    done = client_cli(
        "classify",
        "what is the boiling point of mercury in kelvin",
        "--top-k",
        "3",
        "--target",
        intent_server.address,
    )
    assert done.returncode == 0, done.stderr
    assert "intent:        out_of_scope" in done.stdout
    assert "out of scope:  yes (" in done.stdout and "best guess:" in done.stdout
    assert len([line for line in done.stdout.splitlines() if line.strip()[:1].isdigit()]) == 3


def test_json_lines_from_stdin(intent_server: IntentServer) -> None:
    done = client_cli(
        "classify",
        "--json",
        "--top-k",
        "2",
        "--target",
        intent_server.address,
        stdin="set an alarm for 7 am\n\nhow much is in my checking account\n",
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["intent"] for r in results] == ["set_alarm", "check_balance"]
    assert results[0]["text"] == "set an alarm for 7 am" and len(results[0]["ranking"]) == 2
    assert {"confidence", "out_of_scope", "reason", "top_intent", "truncated"} <= results[0].keys()


def test_info_and_health(intent_server: IntentServer) -> None:
    info = client_cli("info", "--json", "--target", intent_server.address)
    assert info.returncode == 0, info.stderr
    details = json.loads(info.stdout)
    assert details["name"] == "default" and "book_flight" in details["labels"]
    table = client_cli("info", "--target", intent_server.address)
    assert "labels (" in table.stdout and "thresholds:" in table.stdout
    health = client_cli("health", "--target", intent_server.address)
    assert (health.returncode, health.stdout.strip()) == (0, "SERVING")


def test_bad_input_exits_2_with_the_servers_message(intent_server: IntentServer) -> None:
    done = client_cli("classify", "   ", "--target", intent_server.address)
    assert done.returncode == 2
    assert "INVALID_ARGUMENT" in done.stderr and "whitespace" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_server_exits_1_with_a_hint() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = client_cli("health", "--target", f"127.0.0.1:{port}", "--timeout", "2")
    assert done.returncode == 1
    assert "UNAVAILABLE" in done.stderr and "is intent-server running" in done.stderr


def test_help_explains_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["classify", "--help"])
    text = capsys.readouterr().out
    for option in ("--target", "--top-k", "--model", "--json", "--all", "127.0.0.1:50051"):
        assert option in text


def test_connection_options_work_before_and_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["--target", "h:1", "--json", "classify", "hi"])
    assert (before.target, before.json, before.timeout) == ("h:1", True, 5.0)
    after = parser.parse_args(["classify", "--target", "h:2", "hi"])
    assert (after.target, after.json) == ("h:2", False)
    both = parser.parse_args(["--target", "h:1", "classify", "--target", "h:2", "hi"])
    assert both.target == "h:2"  # the later one wins, as with any repeated flag
    assert parser.parse_args(["health"]).target == "127.0.0.1:50051"


def test_environment_sets_connection_options_and_flags_win() -> None:
    env = {"INTENT_CLIENT_TARGET": "h:9", "INTENT_CLIENT_TOKEN": "s3cret"}
    args = CLIENT.parse_args(["health"], env=env)
    assert (args.target, args.token, args.token_file) == ("h:9", "s3cret", None)
    assert CLIENT.parse_args(["info", "--target", "h:1"], env=env).target == "h:1"
    assert CLIENT.parse_args(["health"], env={}).token == ""


CLI = (sys.executable, "-m", "intent_server.client.cli")


def test_closed_stdout_is_not_a_traceback(intent_server: IntentServer) -> None:
    texts = "\n".join(["book me a flight to tokyo"] * 50)
    cli = subprocess.Popen(
        [*CLI, "--target", intent_server.address, "classify", "--json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert cli.stdin is not None and cli.stdout is not None and cli.stderr is not None
    cli.stdin.write(texts)
    cli.stdin.close()
    assert json.loads(cli.stdout.readline())["intent"] == "book_flight"
    cli.stdout.close()  # like `| head -1`
    assert cli.wait(timeout=60) == 0
    assert "Traceback" not in cli.stderr.read()


def test_entities_are_printed_one_per_line() -> None:
    from intent_server.client.cli import format_classification
    from intent_server.client.client import Classification, Entity, IntentScore

    result = Classification(
        intent="book_flight",
        confidence=0.9,
        out_of_scope=False,
        reason="",
        ranking=(IntentScore("book_flight", 0.9),),
        top_intent=IntentScore("book_flight", 0.9),
        truncated=False,
        model="slots",
        model_version="v1",
        entities=(
            Entity("city", "Lisbon", 9, 15, 0.97, "EntityHead", role="from"),
            Entity(
                "city", "New York", 19, 22, 0.9, "EntityHead", processors=("EntitySynonymMapper",)
            ),
        ),
    )
    lines = format_classification("fly from Lisbon to NYC", result).splitlines()
    assert "entity:        city (role from) = 'Lisbon' [9:15] 0.97 EntityHead" in lines
    assert "entity:        city = 'New York' [19:22] 0.90 EntityHead, EntitySynonymMapper" in lines
