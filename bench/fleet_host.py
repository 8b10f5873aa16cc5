"""A Fleet in its own process, so the client being measured does not share its event loop.

``FleetProcess`` starts ``python -m bench.fleet_host`` and reads the fleet's addresses from
the first line it prints; the fleet serves until its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from switchover.fleet.fleet import Fleet
from switchover.settings import Settings


class FleetProcess:
    """A subprocess running a Fleet of gateways on loopback; use as a context manager.

    Attributes:
        instances: ``service key -> ["127.0.0.1:PORT", ...]`` once started.
    """

    def __init__(
        self, redis_url: str, *, gateways: int, slow: float = 0.0, lag: float = 0.0
    ) -> None:
        self._args = [
            sys.executable, "-m", "bench.fleet_host", "--redis-url", redis_url,
            "--gateways", str(gateways), "--slow", str(slow), "--lag", str(lag),
        ]  # fmt: skip
        self._proc: subprocess.Popen[str] | None = None
        self.instances: dict[str, list[str]] = {}

    def start(self) -> FleetProcess:
        """Start the fleet and wait until every instance listens."""
        self._proc = subprocess.Popen(
            self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the fleet process exited before it was ready")
        self.instances = json.loads(line)["instances"]
        return self

    def stop(self) -> None:
        """Close its standard input (it stops by itself); kill it if it does not."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def settings_overrides(self) -> dict[str, Any]:
        """Settings values pointing discovery at this fleet's instances."""
        return {"discovery": {"fallback_instances": self.instances}}

    def __enter__(self) -> FleetProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def _serve(redis_url: str, gateways: int, slow: float, lag: float) -> None:
    async with Fleet(redis_url, Settings(), gateways=gateways, ob_instances=0) as fleet:
        if slow > 0 or lag > 0:
            await fleet.set_faults(slow=slow, lag=lag)
        print(json.dumps({"instances": fleet.instances}), flush=True)
        loop = asyncio.get_running_loop()
        # Serve until the parent closes our standard input (or dies).
        await loop.run_in_executor(None, sys.stdin.read)


def main(argv: Sequence[str] | None = None) -> None:
    """Run a fleet until standard input closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--gateways", type=int, default=3)
    parser.add_argument("--slow", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument("--lag", type=float, default=0.0, help="seconds before applying a config")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.redis_url, args.gateways, args.slow, args.lag))


if __name__ == "__main__":
    main()
