"""Local fleet: loopback HTTP instances that behave like the platform services, and redis-server."""
