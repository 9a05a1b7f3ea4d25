"""The runner: the process inside a workspace that serves its files and terminals over
the original Devex WebSocket protocol."""
