"""deploy/: every manifest is valid against the Kubernetes schemas (strict), and the
portal's Deployment is the one operators expect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from portal.settings import PROJECT_ROOT
from tests.support.kube_sim import K8S_VERSION

DEPLOY = PROJECT_ROOT / "deploy"


def documents() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(Path(DEPLOY).glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents() if doc["kind"] == kind]


def test_every_manifest_is_valid() -> None:
    kinds = set()
    for doc in documents():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        kinds.add(doc["kind"])
    assert {"Deployment", "Service", "Ingress", "ServiceAccount", "Role", "RoleBinding",
            "ConfigMap", "Secret"} <= kinds


def test_the_portal_runs_two_probed_restricted_replicas() -> None:
    (deployment,) = by_kind("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"requests", "limits"} <= set(container["resources"])
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["serviceAccountName"] == by_kind("ServiceAccount")[0]["metadata"]["name"]
    (binding,) = by_kind("RoleBinding")
    assert binding["roleRef"]["name"] == by_kind("Role")[0]["metadata"]["name"]
