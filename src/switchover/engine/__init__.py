"""asyncio orchestration: scheduler, task runner, heartbeat, leases, control requests."""
