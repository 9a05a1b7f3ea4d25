"""The metadata store: Redis, either the operator's (`REDIS_URL`) or one the portal runs."""
