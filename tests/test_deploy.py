"""Docker Compose and Kubernetes files are checked offline: the compose file against the
Compose specification, and the kustomize builds against Kubernetes' own schemas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devstack.servers import TOOLS, find_binary

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


@pytest.mark.parametrize("target", ["base", "overlays/production"])
def test_kubernetes_manifests_are_valid(target: str, tmp_path: Path) -> None:
    kustomize = find_binary("kustomize", str(TOOLS / "kustomize"))
    built = subprocess.run(
        [kustomize, "build", str(ROOT / "deploy" / target)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
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
    } <= kinds
    services = [
        d
        for d in yaml.safe_load_all(built)
        if d["kind"] == "Service" and d["metadata"]["name"] != "gateway"
    ]
    assert all(s["spec"]["clusterIP"] == "None" for s in services)  # headless, for round_robin
