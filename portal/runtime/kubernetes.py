"""Workspaces on Kubernetes through kubernetes-asyncio.

One shared watch on the namespace's managed pods, and one on its events, feed the
progress of every REPL: nothing polls a REPL on its own. A start creates the Secret,
Deployment, Service and Ingress, then follows its pod until it is ready or cannot be
(image pull error, init container failure, crash loop). A stop adds an ephemeral
container that pushes the files back, waits for it to exit 0, and only then deletes
the objects; a failed push deletes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.watch import Watch

from portal.fanout import Fanout
from portal.runtime import manifests
from portal.runtime.base import (
    Report,
    RuntimeUnavailable,
    StartFailed,
    StopFailed,
    WorkloadExists,
    WorkloadSpec,
)
from portal.settings import Settings

log = logging.getLogger(__name__)

_WATCH_SECONDS = 240
# A watch whose connection died without a word must not go silent for every REPL: past
# the server's own watch timeout, a silent read is a dead connection.
_WATCH_READ_SECONDS = _WATCH_SECONDS + 30
_PUSH_TIMEOUT = 300.0
_IMAGE_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                             "ErrImageNeverPull"})
_CONFIG_FAILURES = frozenset({"CreateContainerConfigError", "CreateContainerError",
                              "RunContainerError"})


def pod_progress(pod: dict[str, Any]) -> tuple[int, str, bool, str | None]:
    """What a pod's status means for its REPL: progress, message, ready, failure."""
    status = pod.get("status") or {}
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return 95, "Workspace shutting down", False, None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return 100, "Your REPL is ready", True, None
    for item in status.get("initContainerStatuses") or []:
        state = item.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason") in _IMAGE_FAILURES:
            return 100, "", False, (f"the image {item.get('image')} cannot be pulled: "
                                   f"{waiting.get('message') or waiting['reason']}")
        if terminated and terminated.get("exitCode", 0) != 0:
            return 100, "", False, (f"pulling the files failed (exit code "
                                   f"{terminated.get('exitCode')})")
        if waiting.get("reason") == "CrashLoopBackOff":
            return 100, "", False, "pulling the files keeps failing"
        if state.get("running"):
            return 40, "Pulling your files", False, None
        if not terminated:
            return 30, "Preparing the workspace", False, None
    for item in status.get("containerStatuses") or []:
        state = item.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        reason = waiting.get("reason")
        if reason in _IMAGE_FAILURES:
            return 100, "", False, (f"the image {item.get('image')} cannot be pulled: "
                                   f"{waiting.get('message') or reason}")
        if reason in _CONFIG_FAILURES:
            return 100, "", False, f"the runner cannot start: {waiting.get('message') or reason}"
        if reason == "CrashLoopBackOff" or (terminated and item.get("restartCount", 0) >= 2):
            return 100, "", False, "the runner keeps crashing"
        if state.get("running"):
            return 80, "Runner started; waiting for it to answer", False, None
        return 60, "Starting the runner", False, None
    if status.get("phase") == "Pending":
        return 20, "Waiting for a node", False, None
    return 10, "Workspace requested", False, None


class _ApiClient(client.ApiClient):
    """Every call gives up after `timeout` unless it names its own: the library waits for
    ever by default, and a hung call would hold a REPL in "starting" or "stopping"."""

    def __init__(self, configuration: client.Configuration, timeout: float) -> None:
        super().__init__(configuration)
        self.timeout = timeout

    def call_api(self, resource_path: str, method: str, *args: Any, **kwargs: Any) -> Any:
        # The generated API methods pass every option by name.
        kwargs["_request_timeout"] = kwargs.get("_request_timeout") or self.timeout
        return super().call_api(resource_path, method, *args, **kwargs)


class _Watches:
    """The shared pod and event watches, fanned out to per-REPL listeners."""

    def __init__(self, core: client.CoreV1Api, namespace: str, timeout: float) -> None:
        self.core = core
        self.namespace = namespace
        self.timeout = timeout
        self.pods: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # repl -> name -> pod
        self._fanout = Fanout()
        self._tasks: list[asyncio.Task[None]] = []
        self.synced = asyncio.Event()

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._follow_pods()),
                           asyncio.create_task(self._follow_events())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def listen(self, repl_id: str) -> contextlib.AbstractContextManager[
            asyncio.Queue[dict[str, Any]]]:
        return self._fanout.listen(repl_id)

    def _notify(self, repl_id: str, item: dict[str, Any]) -> None:
        self._fanout.publish(repl_id, item)

    def pods_of(self, repl_id: str) -> list[dict[str, Any]]:
        return list(self.pods.get(repl_id, {}).values())

    def _pod(self, kind: str, pod: dict[str, Any]) -> None:
        repl_id = (pod.get("metadata", {}).get("labels") or {}).get(manifests.REPL_LABEL)
        if not repl_id:
            return
        name = pod["metadata"]["name"]
        if kind == "DELETED":
            self.pods[repl_id].pop(name, None)
            if not self.pods[repl_id]:
                del self.pods[repl_id]
        else:
            self.pods[repl_id][name] = pod
        self._notify(repl_id, {"pod": pod, "type": kind})

    async def _follow(self, list_call: Callable[..., Awaitable[Any]],
                      handle: Callable[[str, dict[str, Any]], None],
                      on_list: Callable[[list[dict[str, Any]]], None], **selectors: Any) -> None:
        delay = 0.2
        while True:
            try:
                listed = await list_call(self.namespace, _preload_content=False, **selectors)
                body = await listed.json()
                on_list(body.get("items") or [])
                version = body["metadata"]["resourceVersion"]
                delay = 0.2
                while True:
                    watch = Watch()
                    async with watch.stream(list_call, self.namespace,
                                            resource_version=version,
                                            timeout_seconds=_WATCH_SECONDS,
                                            allow_watch_bookmarks=True,
                                            _request_timeout=(self.timeout,
                                                              _WATCH_READ_SECONDS),
                                            **selectors) as events:
                        async for event in events:
                            raw = event["raw_object"]
                            if event["type"] == "ERROR":
                                raise ApiException(status=raw.get("code", 500),
                                                   reason=raw.get("message"))
                            version = raw["metadata"]["resourceVersion"]
                            if event["type"] != "BOOKMARK":
                                handle(event["type"], raw)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watch must outlive any API trouble
                log.warning("kubernetes watch interrupted (%s); listing again",
                            type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _follow_pods(self) -> None:
        def relist(items: list[dict[str, Any]]) -> None:
            listed = {pod["metadata"]["name"] for pod in items}
            for pods in list(self.pods.values()):
                for pod in list(pods.values()):
                    if pod["metadata"]["name"] not in listed:
                        self._pod("DELETED", pod)
            for pod in items:
                self._pod("MODIFIED", pod)
            self.synced.set()

        await self._follow(self.core.list_namespaced_pod, self._pod, relist,
                           label_selector=manifests.SELECTOR)

    async def _follow_events(self) -> None:
        def event(kind: str, item: dict[str, Any]) -> None:
            involved = item.get("involvedObject") or {}
            name = involved.get("name", "")
            if kind != "DELETED" and involved.get("kind") == "Pod" and name.startswith("repl-"):
                self._notify(name[5:21], {"event": item})

        await self._follow(self.core.list_namespaced_event, event, lambda items: None,
                           field_selector="involvedObject.kind=Pod")


class KubernetesRuntime:
    name = "kubernetes"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.namespace = settings.namespace
        self.timeout = settings.kube_request_timeout
        self._api: client.ApiClient | None = None
        self._watches: _Watches | None = None
        self._lock = asyncio.Lock()

    async def _client(self) -> client.ApiClient:
        async with self._lock:
            if self._api is None:
                configuration = client.Configuration()
                if self.settings.kube_config_path is not None:
                    await config.load_kube_config(
                        config_file=str(self.settings.kube_config_path),
                        client_configuration=configuration,
                    )
                else:
                    config.load_incluster_config(  # type: ignore[no-untyped-call]
                        client_configuration=configuration
                    )
                configuration.retries = 3
                self._api = _ApiClient(configuration, self.timeout)
                self._watches = _Watches(client.CoreV1Api(self._api), self.namespace,
                                         self.timeout)
                self._watches.start()
            return self._api

    async def _watching(self) -> _Watches:
        await self._client()
        assert self._watches is not None
        await asyncio.wait_for(self._watches.synced.wait(), 30)
        return self._watches

    async def close(self) -> None:
        if self._watches is not None:
            await self._watches.close()
        if self._api is not None:
            await self._api.close()

    async def check(self) -> None:
        api = await self._client()
        try:
            await client.CoreV1Api(api).list_namespaced_pod(
                self.namespace, label_selector=manifests.SELECTOR, limit=1
            )
        except ApiException as exc:
            raise RuntimeUnavailable(f"Kubernetes API answered {exc.status}") from exc
        except _TRANSPORT_ERRORS as exc:
            raise RuntimeUnavailable(self._unreachable(exc)) from exc

    # Start

    async def start(self, spec: WorkloadSpec, report: Report) -> dict[str, Any]:
        api = await self._client()
        watches = await self._watching()
        name = manifests.object_name(spec.repl_id)
        start_id = secrets.token_hex(4)

        def ours(pod: dict[str, Any]) -> bool:
            return (pod["metadata"].get("labels") or {}).get(manifests.START_LABEL) == start_id

        with watches.listen(spec.repl_id) as updates:
            await report(5, "Creating the workspace")
            # A conflict is an earlier workload's objects, perhaps with unsaved files.
            with self._calling("creating the workspace", StartFailed, conflict=WorkloadExists):
                await client.CoreV1Api(api).create_namespaced_secret(
                    self.namespace, _body(manifests.secret(spec, self.settings)))
                await client.AppsV1Api(api).create_namespaced_deployment(
                    self.namespace, _body(manifests.deployment(spec, self.settings, start_id)))
                await client.CoreV1Api(api).create_namespaced_service(
                    self.namespace, _body(manifests.service(spec, self.settings)))
                await client.NetworkingV1Api(api).create_namespaced_ingress(
                    self.namespace, _body(manifests.ingress(spec, self.settings)))
            await report(10, "Workspace requested")
            last = 10
            pod = next((p for p in watches.pods_of(spec.repl_id) if ours(p)), None)
            while True:
                if pod is not None:
                    progress, message, ready, failure = pod_progress(pod)
                    if failure:
                        raise StartFailed(failure)
                    if ready:
                        return {"deployment": name}
                    if progress > last:
                        last = progress
                        await report(progress, message)
                update = await updates.get()
                if "pod" in update and ours(update["pod"]):
                    pod = update["pod"] if update["type"] != "DELETED" else None
                elif "event" in update:
                    await self._report_event(update["event"], last, report)

    @staticmethod
    async def _report_event(event: dict[str, Any], progress: int, report: Report) -> None:
        if event.get("type") == "Warning" and event.get("message"):
            await report(progress, f"{event.get('reason', 'Warning')}: {event['message']}")

    # Stop

    async def stop(self, repl_id: str, storage_prefix: str, report: Report) -> None:
        api = await self._client()
        watches = await self._watching()
        pod = next((p for p in watches.pods_of(repl_id) if _holds_files(p)), None)
        if pod is not None:
            await report(20, "Saving files")
            await self._push(api, watches, pod, repl_id, storage_prefix)
        await report(80, "Removing the workspace")
        await self.discard(repl_id)

    async def _push(self, api: client.ApiClient, watches: _Watches, pod: dict[str, Any],
                    repl_id: str, storage_prefix: str) -> None:
        # The image is read back from the pod, so a stop works after a portal restart too.
        image = next(c["image"] for c in pod["spec"]["containers"] if c["name"] == "runner")
        # No targetContainerName: sharing the runner's process namespace would let the
        # owner's shell, the same user id, read the storage keys from the push's environ.
        container = manifests.sync_container(
            f"sync-push-{secrets.token_hex(3)}", "push", image, storage_prefix, self.settings)
        body = {"spec": {"ephemeralContainers": [container]}}
        with watches.listen(repl_id) as updates:
            with self._calling("adding the file push", StopFailed):
                await client.CoreV1Api(api).patch_namespaced_pod_ephemeralcontainers(
                    pod["metadata"]["name"], self.namespace, body)
            try:
                async with asyncio.timeout(_PUSH_TIMEOUT):
                    current = watches.pods.get(repl_id, {}).get(pod["metadata"]["name"], pod)
                    while True:
                        code = _ephemeral_exit(current, container["name"])
                        if code == 0:
                            return
                        if code is not None:
                            raise StopFailed(f"saving the files failed (exit code {code})")
                        update = await updates.get()
                        if "pod" in update and \
                                update["pod"]["metadata"]["name"] == pod["metadata"]["name"]:
                            if update["type"] == "DELETED":
                                raise StopFailed("the workspace vanished while saving files")
                            current = update["pod"]
            except TimeoutError:
                raise StopFailed(
                    f"saving the files did not finish within {_PUSH_TIMEOUT:g} s") from None

    async def discard(self, repl_id: str) -> None:
        api = await self._client()
        name = manifests.object_name(repl_id)
        # The Deployment goes last: whatever a removal that fails part-way leaves behind
        # then includes it, and reconciliation, which finds workloads by their
        # Deployments, removes the rest.
        deletions = [
            client.NetworkingV1Api(api).delete_namespaced_ingress,
            client.CoreV1Api(api).delete_namespaced_service,
            client.CoreV1Api(api).delete_namespaced_secret,
            client.AppsV1Api(api).delete_namespaced_deployment,
        ]
        for delete in deletions:
            with self._calling("removing the workspace", RuntimeUnavailable, absent_ok=True):
                await delete(name, self.namespace, propagation_policy="Foreground")

    async def is_running(self, repl_id: str, handle: dict[str, Any]) -> bool:
        watches = await self._watching()
        return any(pod_progress(pod)[2] for pod in watches.pods_of(repl_id))

    async def list_workloads(self) -> set[str]:
        api = await self._client()
        with self._calling("listing the workspaces", RuntimeUnavailable):
            listed = await client.AppsV1Api(api).list_namespaced_deployment(
                self.namespace, label_selector=manifests.SELECTOR)
        return {item.metadata.labels[manifests.REPL_LABEL] for item in listed.items
                if item.metadata.labels and manifests.REPL_LABEL in item.metadata.labels}

    @contextlib.contextmanager
    def _calling(self, action: str, failure: type[Exception], *, absent_ok: bool = False,
                 conflict: type[Exception] | None = None) -> Iterator[None]:
        """Turn what the API calls inside can fail with into `failure`, with a reason for
        the owner; an object already gone is no failure where `absent_ok`, and one
        already there raises `conflict`, where given."""
        try:
            yield
        except ApiException as exc:
            if absent_ok and exc.status == 404:
                return
            if conflict is not None and exc.status == 409:
                raise conflict from exc
            raise failure(_api_failure(action, exc)) from exc
        except _TRANSPORT_ERRORS as exc:
            raise failure(self._unreachable(exc)) from exc

    def _unreachable(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"the Kubernetes API did not answer within {self.timeout:g} s"
        return f"the Kubernetes API cannot be reached ({type(exc).__name__}: {exc})"


def _holds_files(pod: dict[str, Any]) -> bool:
    """The pod got past pulling the files and is not going away: its emptyDir may hold
    edits, and an ephemeral container reaches them even while the runner is down (a
    crash loop, an out-of-memory kill). A pod still pending has nothing new to save."""
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")


def _ephemeral_exit(pod: dict[str, Any], name: str) -> int | None:
    for item in (pod.get("status") or {}).get("ephemeralContainerStatuses") or []:
        if item.get("name") == name:
            terminated = (item.get("state") or {}).get("terminated")
            if terminated is not None:
                return int(terminated.get("exitCode", 1))
    return None


# What a call can fail with short of an answer from the API server.
_TRANSPORT_ERRORS = (OSError, TimeoutError, aiohttp.ClientError)


def _body(manifest: dict[str, Any]) -> Any:
    """The client takes plain manifests as they are; its type hints name only models."""
    return manifest


def _api_failure(action: str, exc: ApiException) -> str:
    return f"{action} failed: the Kubernetes API answered {exc.status} ({exc.reason})"
