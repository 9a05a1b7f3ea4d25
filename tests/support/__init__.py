"""Real servers the tests talk to over loopback: Redis, moto's S3, a GitHub stand-in,
a fault-injecting TCP proxy, and the portal itself under hypercorn."""
