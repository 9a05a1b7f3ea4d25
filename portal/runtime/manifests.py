"""The Kubernetes objects of a running REPL, as plain manifests: a Secret with the
runner's per-session secret, a Deployment (an init container pulls the files into an
emptyDir, the runner serves them), a Service and an Ingress for `/<repl-id>` on the
runner host. All carry the `app.kubernetes.io/*` labels plus the REPL and owner ids."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from portal.runtime.base import WorkloadSpec
from portal.settings import Settings

WORKSPACE_MOUNT = "/workspace"
RUNNER_PORT = 8081
MANAGED_BY = "devex-portal"
REPL_LABEL = "devex.dev/repl-id"
# Marks the pods of one start, so a terminating pod of the previous session is never
# mistaken for the new one.
START_LABEL = "devex.dev/start-id"
OWNER_LABEL = "devex.dev/owner-id"
SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]")


def object_name(repl_id: str) -> str:
    return f"repl-{repl_id}"


def labels(repl_id: str, owner_id: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "devex-runner",
        "app.kubernetes.io/instance": object_name(repl_id),
        "app.kubernetes.io/component": "workspace",
        "app.kubernetes.io/part-of": "devex",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        REPL_LABEL: repl_id,
        OWNER_LABEL: _LABEL_VALUE.sub("_", owner_id)[:63].strip("_.-") or "unknown",
    }


def _metadata(spec: WorkloadSpec, settings: Settings) -> dict[str, Any]:
    return {"name": object_name(spec.repl_id), "namespace": settings.namespace,
            "labels": labels(spec.repl_id, spec.owner_id)}


_RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": False,
}


def storage_env(settings: Settings) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "S3_BUCKET", "value": settings.s3_bucket or ""},
        {"name": "S3_REGION", "value": settings.s3_region},
    ]
    if settings.s3_endpoint:
        env.append({"name": "S3_ENDPOINT", "value": settings.s3_endpoint})
    for key in ("S3_ACCESS_KEY", "S3_SECRET_KEY"):
        env.append({"name": key, "valueFrom": {"secretKeyRef": {
            "name": settings.storage_secret, "key": key}}})
    return env


def sync_container(
    name: str, direction: str, image: str, storage_prefix: str, settings: Settings
) -> dict[str, Any]:
    """A container running `devex sync` between storage and the workspace volume."""
    return {
        "name": name,
        "image": image,
        "command": ["devex", "sync", direction, storage_prefix, WORKSPACE_MOUNT],
        "env": storage_env(settings),
        "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE_MOUNT}],
        "securityContext": _RESTRICTED,
    }


def secret(spec: WorkloadSpec, settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Secret", "metadata": _metadata(spec, settings),
        "type": "Opaque", "stringData": {"runner-secret": spec.runner_secret},
    }


def deployment(spec: WorkloadSpec, settings: Settings, start_id: str) -> dict[str, Any]:
    meta = _metadata(spec, settings)
    pull = sync_container("sync-pull", "pull", spec.template.image, spec.storage_prefix,
                          settings)
    pull["resources"] = {"requests": {"cpu": "50m", "memory": "64Mi"},
                         "limits": {"cpu": "500m", "memory": "256Mi"}}
    runner = {
        "name": "runner",
        "image": spec.template.image,
        "command": ["devex", "runner"],
        "ports": [{"name": "http", "containerPort": RUNNER_PORT, "protocol": "TCP"}],
        "env": [
            {"name": "DEVEX_REPL_ID", "value": spec.repl_id},
            {"name": "DEVEX_RUNNER_SECRET", "valueFrom": {"secretKeyRef": {
                "name": object_name(spec.repl_id), "key": "runner-secret"}}},
            {"name": "DEVEX_WORKSPACE_DIR", "value": WORKSPACE_MOUNT},
            {"name": "DEVEX_RUNNER_HOST", "value": "0.0.0.0"},  # noqa: S104
            {"name": "DEVEX_RUNNER_PORT", "value": str(RUNNER_PORT)},
            {"name": "DEVEX_PORTAL_URL", "value": settings.portal_internal_url or ""},
            {"name": "DEVEX_IDLE_TIMEOUT", "value": f"{settings.idle_timeout:g}"},
            {"name": "DEVEX_SHELL", "value": spec.template.shell},
            {"name": "DEVEX_DASHBOARD_URL", "value": settings.dashboard_url or ""},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/ping", "port": "http"},
            "periodSeconds": 2, "failureThreshold": 3, "timeoutSeconds": 2,
        },
        "resources": {
            "requests": {"cpu": settings.runner_cpu_request,
                         "memory": settings.runner_memory_request},
            "limits": {"cpu": settings.runner_cpu_limit, "memory": settings.runner_memory_limit},
        },
        "securityContext": _RESTRICTED,
        "volumeMounts": [{"name": "workspace", "mountPath": WORKSPACE_MOUNT}],
        "workingDir": WORKSPACE_MOUNT,
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {REPL_LABEL: spec.repl_id}},
            "template": {
                "metadata": {"labels": {**meta["labels"], START_LABEL: start_id}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000,
                        "fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "volumes": [{"name": "workspace", "emptyDir": {"sizeLimit": "2Gi"}}],
                    "initContainers": [pull],
                    "containers": [runner],
                },
            },
        },
    }


def service(spec: WorkloadSpec, settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": _metadata(spec, settings),
        "spec": {
            "type": "ClusterIP",
            "selector": {REPL_LABEL: spec.repl_id},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _ingress_host(runner_host: str) -> str | None:
    """A DNS name for the ingress rule, or None where the runner host is an address
    (an Ingress rule's host cannot be an IP; the rule then matches any host)."""
    host = runner_host.rsplit(":", 1)[0] if runner_host.count(":") == 1 else runner_host
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    return None


def ingress(spec: WorkloadSpec, settings: Settings) -> dict[str, Any]:
    rule: dict[str, Any] = {"http": {"paths": [{
        "path": f"/{spec.repl_id}",
        "pathType": "Prefix",
        "backend": {"service": {"name": object_name(spec.repl_id),
                                "port": {"name": "http"}}},
    }]}}
    host = _ingress_host(settings.runner_host or "")
    if host:
        rule["host"] = host
    body: dict[str, Any] = {"rules": [rule]}
    if settings.ingress_class:
        body["ingressClassName"] = settings.ingress_class
    if settings.ingress_tls_secret and host:
        body["tls"] = [{"hosts": [host], "secretName": settings.ingress_tls_secret}]
    meta = _metadata(spec, settings)
    # Terminals and file events ride on one long-lived WebSocket.
    meta["annotations"] = {
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
        "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
    }
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
            "spec": body}
