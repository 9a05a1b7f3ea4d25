"""Prometheus metrics of the portal, in one registry served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_SECONDS = Histogram(
    "devex_http_request_duration_seconds", "HTTP request duration by route and status",
    ["method", "route", "status"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STARTS = Counter("devex_starts_total", "REPL starts by outcome", ["outcome"], registry=REGISTRY)
STOPS = Counter("devex_stops_total", "REPL stops by outcome", ["outcome"], registry=REGISTRY)
START_SECONDS = Histogram(
    "devex_start_duration_seconds", "Time from start requested to ready", registry=REGISTRY,
    buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
ACTIVE_SESSIONS = Gauge("devex_active_sessions", "REPLs with a session (all portals)",
                        registry=REGISTRY)
SYNC_BYTES = Counter("devex_sync_bytes_total", "Bytes moved by pull and push done here",
                     ["direction"], registry=REGISTRY)
SYNC_SECONDS = Histogram("devex_sync_duration_seconds", "Duration of pulls and pushes done here",
                         ["direction"], registry=REGISTRY)
IDLE_STOPS = Counter("devex_idle_stops_total", "Stops asked for by idle workspaces",
                     registry=REGISTRY)
EVENT_WATCHERS = Gauge("devex_event_watchers", "Progress WebSocket watchers on this process",
                       registry=REGISTRY)
