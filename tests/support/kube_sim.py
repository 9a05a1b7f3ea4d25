"""A simulated Kubernetes API server, served over HTTP for the portal's Kubernetes runtime.

It keeps objects with resource versions, answers lists and watch streams with label and
field selectors, validates every object it is given against the real Kubernetes schemas
(kubernetes-validate, strict), and plays controller and kubelet: a Deployment gets a Pod
whose init, runner and ephemeral containers run as local processes, with emptyDir
volumes mapped to local folders, so the real `devex sync` commands move real files.
Faults are made on purpose: API errors and hangs, images that cannot be pulled, runners
that crash or never come up, and storage that fails for the sync containers.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import copy
import json
import secrets
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import kubernetes_validate
from quart import Quart, Response, request, websocket
from quart.typing import ResponseReturnValue

from tests.support.processes import free_port

K8S_VERSION = "1.31.0"
_KINDS = {
    ("", "secrets"): "Secret", ("", "services"): "Service", ("", "pods"): "Pod",
    ("", "events"): "Event", ("apps", "deployments"): "Deployment",
    ("networking.k8s.io", "ingresses"): "Ingress",
}


@dataclass
class Fault:
    method: str
    resource: str
    status: int = 500
    times: int = 1
    hang: float = 0.0


@dataclass
class PodRun:
    name: str
    volumes: dict[str, Path]
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    runner_port: int | None = None
    runner: asyncio.subprocess.Process | None = None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _status(code: int, reason: str, message: str) -> Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    return Response(json.dumps(body), status=code, content_type="application/json")


def _matches(obj: dict[str, Any], labels: str | None, fields: str | None) -> bool:
    have = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (labels or "").split(",")):
        key, _, value = term.partition("=")
        if have.get(key) != value:
            return False
    for term in filter(None, (fields or "").split(",")):
        path, _, value = term.partition("=")
        current: Any = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if current != value:
            return False
    return True


class SimCluster:
    def __init__(self, workdir: Path, namespace: str = "devex") -> None:
        self.workdir = workdir
        self.namespace = namespace
        self.version = 0
        self.objects: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
            key: {} for key in _KINDS}
        self.history: list[tuple[int, tuple[str, str], str, dict[str, Any]]] = []
        self.changed = asyncio.Condition()
        self.requests: list[tuple[str, str, str, str]] = []
        self.validated: list[str] = []
        self.ephemeral: list[dict[str, Any]] = []  # every ephemeral container added
        self.faults: list[Fault] = []
        self.missing_images: set[str] = set()
        self.crash_images: set[str] = set()
        self.crashing_pods: set[str] = set()  # pods whose runner dies from now on
        self.stuck_images: set[str] = set()
        self.broken_storage_for: set[str] = set()  # "init" and/or "ephemeral"
        self.runs: dict[str, PodRun] = {}
        self.ready_at: dict[str, float] = {}  # pod name -> perf_counter() when it turned Ready
        self._jobs: set[asyncio.Task[None]] = set()
        self.app = self._build()

    # Objects

    def _store(self, key: tuple[str, str], kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            self.objects[key].pop(name, None)
        else:
            self.objects[key][name] = obj
        self.history.append((self.version, key, kind, copy.deepcopy(obj)))
        return obj

    async def _changed(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def put(self, key: tuple[str, str], obj: dict[str, Any], kind: str = "MODIFIED") -> None:
        self._store(key, kind, obj)
        await self._changed()

    def validate(self, obj: dict[str, Any]) -> None:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        self.validated.append(f"{obj['kind']}/{obj['metadata']['name']}")

    def managed(self, repl_id: str) -> list[str]:
        """Every object that still exists for the REPL."""
        found = []
        for (_, resource), items in self.objects.items():
            for name, obj in items.items():
                if (obj["metadata"].get("labels") or {}).get("devex.dev/repl-id") == repl_id:
                    found.append(f"{resource}/{name}")
        return sorted(found)

    def count(self, verb: str, resource: str) -> int:
        return sum(1 for v, _, r, _ in self.requests if v == verb and r == resource)

    def add_secret(self, name: str, data: dict[str, str]) -> None:
        obj = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": name, "namespace": self.namespace, "uid": "seed"},
               "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        self._store(("", "secrets"), "ADDED", obj)

    # HTTP

    def _build(self) -> Quart:
        app = Quart("kube-sim")
        app.config["RESPONSE_TIMEOUT"] = None

        @app.route("/api/v1/namespaces/<ns>/<resource>", methods=["GET", "POST"])
        @app.route("/api/v1/namespaces/<ns>/<resource>/<name>",
                   methods=["GET", "DELETE", "PATCH"])
        @app.route("/api/v1/namespaces/<ns>/<resource>/<name>/<sub>", methods=["PATCH", "GET"])
        async def core(ns: str, resource: str, name: str | None = None,
                       sub: str | None = None) -> ResponseReturnValue:
            return await self._handle("", resource, name, sub)

        @app.route("/apis/<group>/<version>/namespaces/<ns>/<resource>",
                   methods=["GET", "POST"])
        @app.route("/apis/<group>/<version>/namespaces/<ns>/<resource>/<name>",
                   methods=["GET", "DELETE", "PATCH"])
        async def grouped(group: str, version: str, ns: str, resource: str,
                          name: str | None = None) -> ResponseReturnValue:
            return await self._handle(group, resource, name, None)

        return app

    def _verb(self, name: str | None) -> str:
        method = request.method
        if method == "GET":
            if name:
                return "get"
            return "watch" if request.args.get("watch", "").lower() in ("true", "1") else "list"
        return {"POST": "create", "DELETE": "delete", "PATCH": "patch"}[method]

    async def _handle(self, group: str, resource: str, name: str | None,
                      sub: str | None) -> ResponseReturnValue:
        key = (group, resource)
        if key not in _KINDS:
            return _status(404, "NotFound", f"the server could not find {resource}")
        verb = self._verb(name)
        self.requests.append((verb, group, resource if sub is None else f"{resource}/{sub}",
                              name or ""))
        for fault in self.faults:
            if fault.times > 0 and fault.method == verb and fault.resource == resource:
                fault.times -= 1
                if fault.hang:
                    await asyncio.sleep(fault.hang)
                return _status(fault.status, "InternalError", "injected failure")
        if verb == "create":
            return await self._create(key, await request.get_json())
        if verb == "get":
            found = self.objects[key].get(name or "")
            if found is None:
                return _status(404, "NotFound", f'{resource} "{name}" not found')
            return found
        if verb == "delete":
            return await self._delete(key, name or "")
        if verb == "patch":
            return await self._patch(key, name or "", sub, await request.get_json())
        if verb == "watch":
            return self._watch(key)
        items = [obj for obj in self.objects[key].values()
                 if _matches(obj, request.args.get("labelSelector"),
                             request.args.get("fieldSelector"))]
        return {"kind": f"{_KINDS[key]}List", "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self.version)}, "items": items}

    async def _create(self, key: tuple[str, str], obj: dict[str, Any]) -> ResponseReturnValue:
        try:
            self.validate(obj)
        except kubernetes_validate.ValidationError as exc:
            return _status(422, "Invalid", f"invalid {obj.get('kind')}: {exc.message}")
        name = obj["metadata"]["name"]
        if name in self.objects[key]:
            return _status(409, "AlreadyExists", f'{key[1]} "{name}" already exists')
        obj["metadata"].update({"uid": secrets.token_hex(8), "creationTimestamp": _now(),
                                "namespace": self.namespace, "generation": 1})
        if obj["kind"] == "Secret" and "stringData" in obj:
            obj["data"] = {k: base64.b64encode(v.encode()).decode()
                           for k, v in obj.pop("stringData").items()}
        await self.put(key, obj, "ADDED")
        if obj["kind"] == "Deployment":
            self._schedule(obj)
        return Response(json.dumps(obj), status=201, content_type="application/json")

    async def _delete(self, key: tuple[str, str], name: str) -> ResponseReturnValue:
        obj = self.objects[key].get(name)
        if obj is None:
            return _status(404, "NotFound", f'{key[1]} "{name}" not found')
        if obj["kind"] == "Deployment":
            for pod in list(self.objects[("", "pods")].values()):
                if pod["metadata"]["name"].startswith(f"{name}-"):
                    await self._kill_pod(pod)
        await self.put(key, obj, "DELETED")
        return {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}

    async def _patch(self, key: tuple[str, str], name: str, sub: str | None,
                     body: dict[str, Any]) -> ResponseReturnValue:
        obj = self.objects[key].get(name)
        if obj is None:
            return _status(404, "NotFound", f'{key[1]} "{name}" not found')
        if key != ("", "pods") or sub != "ephemeralcontainers":
            return _status(405, "MethodNotAllowed", "only pods/ephemeralcontainers is patched")
        if request.mimetype != "application/strategic-merge-patch+json":
            return _status(415, "UnsupportedMediaType", request.mimetype)
        updated = copy.deepcopy(obj)
        existing = {c["name"]: c for c in updated["spec"].get("ephemeralContainers", [])}
        added = []
        for container in body.get("spec", {}).get("ephemeralContainers", []):
            if container["name"] not in existing:
                added.append(container)
                self.ephemeral.append(container)
            existing[container["name"]] = container
        updated["spec"]["ephemeralContainers"] = list(existing.values())
        check = {k: v for k, v in updated.items() if k != "status"}
        try:
            self.validate(check)
        except kubernetes_validate.ValidationError as exc:
            return _status(422, "Invalid", f"invalid ephemeral container: {exc.message}")
        await self.put(key, updated)
        run = self.runs.get(name)
        for container in added:
            if run is not None:
                self._spawn(self._run_ephemeral(run, container))
        return updated

    def _watch(self, key: tuple[str, str]) -> Response:
        since = int(request.args.get("resourceVersion") or self.version)
        timeout = float(request.args.get("timeoutSeconds") or 30)
        labels, fields = request.args.get("labelSelector"), request.args.get("fieldSelector")

        async def stream() -> AsyncIterator[bytes]:
            position = bisect.bisect_right([entry[0] for entry in self.history], since)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                while position < len(self.history):
                    _, item_key, kind, obj = self.history[position]
                    position += 1
                    if item_key == key and _matches(obj, labels, fields):
                        yield json.dumps({"type": kind, "object": obj}).encode() + b"\n"
                async with self.changed:
                    if position < len(self.history):
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.changed.wait(),
                                               max(deadline - time.monotonic(), 0.01))

        return Response(stream(), content_type="application/json")

    # Controller and kubelet

    def _spawn(self, job: Any) -> None:
        task = asyncio.create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def _schedule(self, deployment: dict[str, Any]) -> None:
        template = copy.deepcopy(deployment["spec"]["template"])
        name = f"{deployment['metadata']['name']}-{secrets.token_hex(3)}"
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": self.namespace,
                            "labels": template["metadata"]["labels"],
                            "uid": secrets.token_hex(8), "creationTimestamp": _now()},
               "spec": template["spec"], "status": {"phase": "Pending"}}
        volumes = {v["name"]: self.workdir / name / v["name"]
                   for v in pod["spec"].get("volumes", [])}
        for path in volumes.values():
            path.mkdir(parents=True)
        run = PodRun(name=name, volumes=volumes)
        self.runs[name] = run
        self._store(("", "pods"), "ADDED", pod)
        run.task = asyncio.create_task(self._kubelet(run))

    def _pod(self, name: str) -> dict[str, Any] | None:
        return self.objects[("", "pods")].get(name)

    async def _set_status(self, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        pod = self._pod(name)
        if pod is None:
            return
        pod = copy.deepcopy(pod)
        change(pod["status"])
        await self.put(("", "pods"), pod)

    async def _event(self, pod: str, kind: str, reason: str, message: str) -> None:
        name = f"{pod}.{secrets.token_hex(4)}"
        event = {"apiVersion": "v1", "kind": "Event", "type": kind, "reason": reason,
                 "message": message, "metadata": {"name": name, "namespace": self.namespace},
                 "involvedObject": {"kind": "Pod", "name": pod, "namespace": self.namespace}}
        await self.put(("", "events"), event, "ADDED")

    def _env(self, run: PodRun, container: dict[str, Any], role: str) -> dict[str, str]:
        import os

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DEVEX_", "S3_", "GITHUB_", "REDIS_"))}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = self._local(run, container, item["value"])
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                secret = self.objects[("", "secrets")].get(ref["name"])
                if secret is None or ref["key"] not in secret.get("data", {}):
                    raise LookupError(f'secret "{ref["name"]}" has no key {ref["key"]}')
                env[item["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        if role in self.broken_storage_for:
            env["S3_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
        return env

    def _local(self, run: PodRun, container: dict[str, Any], value: str) -> str:
        for mount in container.get("volumeMounts", []):
            if value == mount["mountPath"] or value.startswith(mount["mountPath"] + "/"):
                return str(run.volumes[mount["name"]]) + value[len(mount["mountPath"]):]
        return value

    def _command(self, run: PodRun, container: dict[str, Any]) -> list[str]:
        command = [self._local(run, container, part)
                   for part in container["command"] + container.get("args", [])]
        if command[0] == "devex":
            return [sys.executable, "-m", "portal", *command[1:]]
        return command

    async def _exec(self, run: PodRun, container: dict[str, Any], role: str,
                    extra_env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        env = self._env(run, container, role)
        env.update(extra_env or {})
        process = await asyncio.create_subprocess_exec(
            *self._command(run, container), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        run.processes.append(process)
        return process

    async def _container_state(self, run: PodRun, field_name: str, container: dict[str, Any],
                               state: dict[str, Any]) -> None:
        def change(status: dict[str, Any]) -> None:
            self._statuses(status, field_name, container["name"], container["image"], state)

        await self._set_status(run.name, change)

    def _statuses(self, status: dict[str, Any], field_name: str, name: str, image: str,
                  state: dict[str, Any], restarts: int = 0) -> None:
        items = [s for s in status.get(field_name, []) if s["name"] != name]
        items.append({"name": name, "image": image, "state": state, "ready": False,
                      "restartCount": restarts, "imageID": "", "containerID": ""})
        status[field_name] = items

    async def _kubelet(self, run: PodRun) -> None:
        pod = self._pod(run.name)
        assert pod is not None
        spec = pod["spec"]
        await self._event(run.name, "Normal", "Scheduled", "Successfully assigned")
        for init in spec.get("initContainers", []):
            if not await self._pullable(run, init, "initContainerStatuses"):
                return
            await self._container_state(run, "initContainerStatuses", init,
                                        {"running": {"startedAt": _now()}})
            try:
                process = await self._exec(run, init, "init")
                code = await process.wait()
            except LookupError as exc:
                await self._config_error(run, init, str(exc), "initContainerStatuses")
                return
            await self._container_state(run, "initContainerStatuses", init, {"terminated": {
                "exitCode": code, "reason": "Completed" if code == 0 else "Error"}})
            if code != 0:
                await self._event(run.name, "Warning", "BackOff", "Back-off restarting failed "
                                  "container")
                return
        runner = spec["containers"][0]
        if not await self._pullable(run, runner, "containerStatuses"):
            return
        if runner["image"] in self.stuck_images:
            await self._set_status(run.name, lambda st: self._statuses(
                st, "containerStatuses", runner["name"], runner["image"],
                {"waiting": {"reason": "ContainerCreating"}}))
            return
        restarts = 0
        while True:
            port = free_port()
            run.runner_port = port
            if runner["image"] in self.crash_images or run.name in self.crashing_pods:
                crashing = {**runner, "command": [sys.executable, "-c", "raise SystemExit(3)"]}
                process = await self._exec(run, crashing, "runner")
            else:
                try:
                    process = await self._exec(run, runner, "runner", {
                        "DEVEX_RUNNER_PORT": str(port), "DEVEX_RUNNER_HOST": "127.0.0.1"})
                except LookupError as exc:
                    await self._config_error(run, runner, str(exc), "containerStatuses")
                    return
            run.runner = process

            def running(status: dict[str, Any], restarts: int = restarts) -> None:
                self._statuses(status, "containerStatuses", runner["name"], runner["image"],
                               {"running": {"startedAt": _now()}}, restarts)
                status["phase"] = "Running"

            await self._set_status(run.name, running)
            await self._probe_until_exit(run, process, port)
            restarts += 1
            exit_code = process.returncode

            def exited(status: dict[str, Any], restarts: int = restarts,
                       code: int | None = exit_code) -> None:
                state = ({"waiting": {"reason": "CrashLoopBackOff", "message": f"exit {code}"}}
                         if restarts >= 2 else
                         {"terminated": {"exitCode": code, "reason": "Error"}})
                self._statuses(status, "containerStatuses", runner["name"], runner["image"],
                               state, restarts)
                status["conditions"] = [{"type": "Ready", "status": "False"}]

            await self._set_status(run.name, exited)
            if restarts >= 2:
                return
            await asyncio.sleep(0.2)

    async def _probe_until_exit(self, run: PodRun, process: asyncio.subprocess.Process,
                                port: int) -> None:
        ready = False
        async with httpx.AsyncClient(timeout=1) as probe:
            while process.returncode is None:
                if not ready:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await probe.get(f"http://127.0.0.1:{port}/ping")).status_code == 200:
                            ready = True
                            def became_ready(status: dict[str, Any]) -> None:
                                status["conditions"] = [{"type": "Ready", "status": "True"}]

                            await self._set_status(run.name, became_ready)
                            self.ready_at[run.name] = time.perf_counter()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 0.1)

    async def _pullable(self, run: PodRun, container: dict[str, Any], field_name: str) -> bool:
        if container["image"] not in self.missing_images:
            return True
        message = f'Failed to pull image "{container["image"]}": not found'
        await self._event(run.name, "Warning", "Failed", message)
        for reason in ("ErrImagePull", "ImagePullBackOff"):
            await self._container_state(run, field_name, container,
                                        {"waiting": {"reason": reason, "message": message}})
        return False

    async def _config_error(self, run: PodRun, container: dict[str, Any], message: str,
                            field_name: str) -> None:
        await self._set_status(run.name, lambda st: self._statuses(
            st, field_name, container["name"], container["image"],
            {"waiting": {"reason": "CreateContainerConfigError", "message": message}}))

    async def _run_ephemeral(self, run: PodRun, container: dict[str, Any]) -> None:
        await self._set_status(run.name, lambda st: self._statuses(
            st, "ephemeralContainerStatuses", container["name"], container["image"],
            {"running": {"startedAt": _now()}}))
        process = await self._exec(run, container, "ephemeral")
        code = await process.wait()
        await self._set_status(run.name, lambda st: self._statuses(
            st, "ephemeralContainerStatuses", container["name"], container["image"],
            {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}))

    async def _kill_pod(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        run = self.runs.pop(name, None)
        if run is not None:
            await self._stop_run(run)
        await self.put(("", "pods"), pod, "DELETED")

    async def _stop_run(self, run: PodRun) -> None:
        if run.task is not None:
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
        for process in run.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        shutil.rmtree(self.workdir / run.name, ignore_errors=True)

    async def close(self) -> None:
        for run in list(self.runs.values()):
            await self._stop_run(run)
        self.runs.clear()
        for job in list(self._jobs):
            job.cancel()

    def crash_runner(self, repl_id: str) -> None:
        """The REPL's runner dies, and dies again at every restart, until the kubelet gives
        up (CrashLoopBackOff); the pod and the files in its emptyDir stay."""
        for name, run in self.runs.items():
            if name.startswith(f"repl-{repl_id}-"):
                self.crashing_pods.add(name)
                if run.runner is not None and run.runner.returncode is None:
                    run.runner.kill()

    def runner_port(self, repl_id: str) -> int | None:
        for name, run in self.runs.items():
            if name.startswith(f"repl-{repl_id}-"):
                return run.runner_port
        return None

    def workspace(self, repl_id: str) -> Path | None:
        for name, run in self.runs.items():
            if name.startswith(f"repl-{repl_id}-"):
                return run.volumes.get("workspace")
        return None


def ingress_app(cluster: SimCluster) -> Quart:
    """The runner host: routes `/<repl-id>/...` to that REPL's runner, as an ingress
    controller would, using the Ingress objects the portal made."""
    from portal.runtime.proxy import WorkspaceProxy

    app = Quart("kube-sim-ingress")
    proxy = WorkspaceProxy()

    def target(repl_id: str) -> tuple[str, int] | None:
        if f"repl-{repl_id}" not in cluster.objects[("networking.k8s.io", "ingresses")]:
            return None
        port = cluster.runner_port(repl_id)
        return None if port is None else ("127.0.0.1", port)

    @app.route("/<repl_id>/<path:rest>", methods=["GET", "POST"])
    @app.route("/<repl_id>/", defaults={"rest": ""}, methods=["GET", "POST"])
    async def forward(repl_id: str, rest: str) -> ResponseReturnValue:
        address = target(repl_id)
        if address is None:
            return "no route", 404
        status, headers, body = await proxy.http(
            address, request.method, request.path, request.query_string,
            dict(request.headers), await request.get_data(as_text=False))  # type: ignore[arg-type]
        return Response(body, status=status, headers=dict(headers))

    @app.websocket("/<repl_id>/<path:rest>")
    async def forward_ws(repl_id: str, rest: str) -> ResponseReturnValue | None:
        address = target(repl_id)
        if address is None:
            return "no route", 404
        refused = await proxy.websocket(
            address, websocket.path, websocket.query_string, dict(websocket.headers),
            websocket.accept, websocket.receive, websocket.send)
        if refused is not None:
            return "refused", refused
        return None

    return app


def kubeconfig(path: Path, port: int, namespace: str) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sim",
        "clusters": [{"name": "sim", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "sim", "user": {"token": "sim-token"}}],
        "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sim",
                                                 "namespace": namespace}}],
    }))
    return path
