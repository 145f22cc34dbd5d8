"""Offline checks of deploy/: the manifests and Dockerfile agree with each other and the server."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from intent_server.config import parse_config
from intent_server.grpc.server import SERVICE_NAME
from tests.fixtures.paths import DEPLOY

K8S = DEPLOY / "k8s"


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return docs


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents() if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container() -> dict[str, Any]:
    containers = one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def container_env() -> dict[str, str]:
    return {item["name"]: str(item["value"]) for item in container().get("env", [])}


def dockerfile_env() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


def test_every_document_has_the_required_fields() -> None:
    docs = documents()
    assert {d["kind"] for d in docs} == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"] and doc["spec"], doc["kind"]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_deployment_selector_labels_and_ports() -> None:
    deployment = one("Deployment")
    assert deployment["apiVersion"] == "apps/v1"
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    env = container_env()
    port = int(env["INTENT_SERVER_PORT"])
    assert env["INTENT_SERVER_HOST"] == "0.0.0.0"  # reachable from the kubelet and Services
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert ports["grpc"] == port
    grace = float(env["INTENT_SERVER_GRACE_SECONDS"])
    assert grace < spec["template"]["spec"]["terminationGracePeriodSeconds"]
    requests = container()["resources"]["requests"]
    assert requests["cpu"] and requests["memory"]  # the HPA's utilization needs a request


def test_probes_use_native_grpc_health_on_the_serving_port() -> None:
    spec = container()
    port = int(container_env()["INTENT_SERVER_PORT"])
    services = {}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        grpc_probe = spec[probe]["grpc"]
        assert grpc_probe["port"] == port, probe
        services[probe] = grpc_probe.get("service", "")
    # The server reports these two names (the whole server and the classifier service).
    assert set(services.values()) <= {"", SERVICE_NAME}
    assert services["readinessProbe"] == SERVICE_NAME
    assert spec["startupProbe"]["periodSeconds"] * spec["startupProbe"]["failureThreshold"] >= 30


def test_services_select_the_pods_and_name_existing_ports() -> None:
    pod_labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"] for p in container()["ports"]}
    services = [d for d in documents() if d["kind"] == "Service"]
    assert any(s["spec"].get("clusterIP") == "None" for s in services), "headless Service missing"
    for service in services:
        assert service["spec"]["selector"].items() <= pod_labels.items()
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, port


def test_hpa_scales_the_deployment() -> None:
    hpa = one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", one("Deployment")["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


@pytest.mark.parametrize("source", ["deployment", "dockerfile"])
def test_environment_variables_are_options_the_server_accepts(source: str) -> None:
    env = container_env() if source == "deployment" else dockerfile_env()
    server_env = {k: v for k, v in env.items() if k.startswith("INTENT_SERVER_")}
    assert server_env
    known = {
        action.help.rsplit("[env ", 1)[1].split("]")[0].split("=")[0]
        for action in _parser_actions()
    }
    assert set(server_env) <= known, set(server_env) - known
    config = parse_config([], env=server_env)  # exits 2 on a bad value
    assert config.port == int(server_env["INTENT_SERVER_PORT"])


def _parser_actions() -> list[Any]:
    from intent_server.config import build_parser

    return [a for a in build_parser()._actions if a.help and "[env " in a.help]


def test_dockerfile_serves_without_torch_as_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line.split()[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert instructions[0] == "FROM" and "USER" in instructions
    assert "torch" not in text.replace("no torch", "").replace("(torch)", "")
    assert "[train" not in text.split("RUN pip install", 1)[1].splitlines()[0]
    assert re.search(r"^EXPOSE 50051$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["intent-server"\]$', text, re.M)
    user = re.search(r"^USER (\d+)$", text, re.M)
    pod_user = one("Deployment")["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert user is not None and int(user.group(1)) == pod_user
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    for copied in re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) ", text, re.M):
        name = copied.rstrip("/").split("/")[0].replace("${EXPORT_DIR}", "exported")
        assert f"!{name}" in ignore, copied


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_renders_the_set() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(rendered) == len(documents())
