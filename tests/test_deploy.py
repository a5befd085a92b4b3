"""Docker Compose and Kubernetes files are checked offline: the compose file against the
Compose specification, and the kustomize builds against Kubernetes' own schemas."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.servers import TOOLS, find_binary
from servicekit import servicetokens

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_compose_file_follows_the_compose_specification() -> None:
    subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        check=True,
    )


def test_compose_runs_two_replicas_of_every_service_with_health_checks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("user_service", "activity_service", "scoring_service"):
        assert compose[name]["deploy"]["replicas"] == 2
        assert "servicekit.probe" in compose[name]["healthcheck"]["test"]
    assert compose["gateway"]["ports"] == ["8000:8000"]
    assert {"postgres:16", "mongo:7", "redis:7"} <= {s.get("image") for s in compose.values()}


@functools.cache
def kustomize_build(target: str) -> str:
    kustomize = find_binary("kustomize", str(TOOLS / "kustomize"))
    return subprocess.run(
        [kustomize, "build", str(ROOT / "deploy" / target)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.mark.parametrize("target", ["base", "overlays/production"])
def test_kubernetes_manifests_are_valid(target: str, tmp_path: Path) -> None:
    built = kustomize_build(target)
    out = tmp_path / "manifests.yaml"
    out.write_text(built)
    subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(out)], check=True)
    kinds = {doc["kind"] for doc in yaml.safe_load_all(built)}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
        "NetworkPolicy",
    } <= kinds
    services = [
        d
        for d in yaml.safe_load_all(built)
        if d["kind"] == "Service" and d["metadata"]["name"] != "gateway"
    ]
    assert all(s["spec"]["clusterIP"] == "None" for s in services)  # headless, for round_robin


def _documents(target: str, kind: str) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all(kustomize_build(target))
        if d["kind"] == kind
    }


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]  # type: ignore[no-any-return]


def _container_ports(deployment: dict[str, Any]) -> set[str]:
    return {
        p["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c["ports"]
    }


@pytest.mark.parametrize("target", ["base", "overlays/production"])
def test_network_policies_admit_only_each_services_callers(target: str) -> None:
    deployments = _documents(target, "Deployment")
    policies = _documents(target, "NetworkPolicy")
    deny = policies.pop("default-deny-ingress")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}  # admits nothing

    def admitted(name: str, port: str) -> set[str] | None:
        """The Deployments whose pods may reach `port` of `name`'s pods; None: anyone."""
        (policy,) = [
            p
            for p in policies.values()
            if _matches(p["spec"]["podSelector"], _pod_labels(deployments[name]))
        ]
        found: set[str] = set()
        for rule in policy["spec"]["ingress"]:
            for p in rule["ports"]:  # every port a policy names is one the pods listen on
                assert p["port"] in _container_ports(deployments[name]), (name, p)
            if port not in {p["port"] for p in rule["ports"]}:
                continue
            if "from" not in rule:
                return None
            for peer in rule["from"]:
                if "namespaceSelector" in peer:  # other namespaces: Prometheus only
                    assert port == "metrics", (name, peer)
                    continue
                found |= {
                    d
                    for d, dep in deployments.items()
                    if _matches(peer["podSelector"], _pod_labels(dep))
                }
        return found

    assert admitted("gateway", "http") is None  # the public API
    covered = {
        name
        for name in deployments
        for p in policies.values()
        if _matches(p["spec"]["podSelector"], _pod_labels(deployments[name]))
    }
    assert covered == set(deployments)  # no Deployment is left to the default deny alone
    for service, callers in servicetokens.CALLERS.items():
        name = service.replace("_", "-")
        reach = admitted(name, "grpc")
        assert reach is not None
        # The network admits the callers the service accepts, and beyond them only the
        # gateway's readiness probe of scoring's (open) grpc.health.v1.
        assert {c.replace("_", "-") for c in callers} <= reach
        assert reach - {c.replace("_", "-") for c in callers} <= {"gateway"}
        assert admitted(name, "metrics") == set()  # no pod of the suite: Prometheus only
    assert admitted("activity-service", "grpc") == {"gateway"}
    assert admitted("scoring-service", "grpc") == {"gateway", "activity-service", "user-service"}


def test_each_service_gets_the_service_keys_it_needs_from_the_secret() -> None:
    deployments = _documents("base", "Deployment")
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        from_secret = {
            e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
        }
        whole = {"secretRef": {"name": "fitmesh-secrets"}} in container["envFrom"]
        if name == "scoring-service":  # verifies, never signs; has no database
            assert not whole
            assert from_secret == {"SERVICE_VERIFY_KEY"}
        else:
            assert whole, name
    config = (ROOT / "deploy" / "base" / "config.yaml").read_text()
    assert "SERVICE_SIGNING_KEY=" in config
    assert "SERVICE_VERIFY_KEY=" in config
