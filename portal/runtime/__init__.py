"""Where workspaces run: Kubernetes in production, local processes by default."""
