"""``switchover fleet``: run a local fleet of loopback services (and a Redis) until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from switchover.fleet.fleet import Fleet
from switchover.fleet.redis_server import RedisServer
from switchover.secrets import Secret
from switchover.settings import Settings, load_settings

_SHOWN_PER_SERVICE = 8
"""Addresses listed per service in the table; the YAML snippet always has all of them."""

AGENT_CHECK = "switchover.fleet.agent:judge_agent"
"""The fleet's agent-readiness check (its agents are always ready), for ``agent.check``."""


def fleet(
    redis_url: str | None,
    gateways: int,
    ob_instances: int,
    config_file: Path | None,
    start_redis: bool,
    json_output: bool,
    write: Path | None = None,
) -> None:
    """Run gateways, OB instances, a portal and an ASBC on loopback until SIGINT, SIGTERM or
    SIGHUP (its terminal closed).

    Prints the Redis URL, every instance address and a YAML settings snippet to save and pass
    to ``switchover --config``; then serves until interrupted and stops everything it started
    (instances, the subscription and, if it started one, the redis-server).

    Options the command exposes:

    * ``--redis-url URL``: the Redis to use (default: start a throw-away redis-server);
    * ``--gateways N``: blue-green gateway instances (default 3);
    * ``--ob-instances N``: OB service instances (default 2);
    * ``--config PATH``: settings file (key prefix, topic, paths, ASBC token);
    * ``--start-redis/--no-start-redis``: without ``--redis-url``, start a redis-server
      (default) or use ``redis.url`` from the settings;
    * ``--write FILE``: write the settings to FILE (mode 0600) instead of printing them;
    * ``--json``: print one JSON document instead of tables.

    Args:
        redis_url: Redis URL, or None.
        gateways: number of blue-green gateway instances.
        ob_instances: number of OB service instances.
        config_file: settings file, or None.
        start_redis: start a redis-server when ``redis_url`` is None.
        json_output: machine-readable output.
        write: the settings file to write, or None.

    Raises:
        SettingsError: the settings file is invalid.
        RedisServerError: redis-server is missing or did not start.
        FleetError: Redis is unreachable, a port could not be bound, or ``write`` cannot be
            written.
    """
    settings = load_settings(config_file)
    # Ctrl-C before the signal handlers are installed still lands here and unwinds cleanly.
    with _redis(redis_url, start_redis, settings) as url, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(url, settings, gateways, ob_instances, json_output, write))


@contextlib.contextmanager
def _redis(redis_url: str | None, start_redis: bool, settings: Settings) -> Iterator[str]:
    if redis_url is not None:
        yield redis_url
    elif start_redis:
        with RedisServer() as server:
            yield server.url
    else:
        yield settings.redis.url.get_secret_value()


async def _serve(
    redis_url: str,
    settings: Settings,
    gateways: int,
    ob_instances: int,
    json_output: bool,
    write: Path | None = None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(sig, stop.set)
    console = Console()
    try:
        async with Fleet(
            redis_url, settings, gateways=gateways, ob_instances=ob_instances
        ) as running:
            snippet = settings_snippet(running, _masked(settings, redis_url))
            if write is not None:
                write_settings(write, settings_snippet(running, redis_url))
                if not json_output:
                    console.print(
                        f"settings written to [bold]{write}[/] (pass it to --config)",
                        soft_wrap=True,
                    )
            if json_output:
                from switchover.views import document

                print(json.dumps(document(_json_document(running, snippet)), indent=2), flush=True)
            else:
                _print_tables(console, running, snippet, shown_yaml=write is None)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
    if not json_output:
        console.print("fleet stopped")


def settings_snippet(running: Fleet, redis_url: str) -> dict[str, Any]:
    """Settings that point ``switchover`` at a running fleet and its Redis.

    Args:
        running: the started fleet.
        redis_url: the URL to write (masked if it carries a password).

    Returns:
        A mapping ready for ``yaml.safe_dump`` or ``Settings.of(**...)``.
    """
    return {
        "redis": {"url": redis_url},
        **running.settings_overrides(),
        # The fleet's agents are always ready: the OB stage checks them instead of warning.
        "agent": {"check": AGENT_CHECK},
    }


def write_settings(path: Path, values: dict[str, Any]) -> None:
    """Write a settings file readable only by its owner (it may hold the Redis password).

    Raises:
        FleetError: the file cannot be written.
    """
    import os

    from switchover.fleet.fleet import FleetError

    text = "# written by 'switchover fleet --write'; pass it to 'switchover --config'\n"
    text += yaml.safe_dump(values, sort_keys=False)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise FleetError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _masked(settings: Settings, redis_url: str) -> str:
    redis = settings.redis.replace(url=Secret(redis_url))
    url: str = settings.replace(redis=redis).masked()["redis"]["url"]
    return url


def _json_document(running: Fleet, snippet: dict[str, Any]) -> dict[str, Any]:
    return {
        "redis_url": snippet["redis"]["url"],
        "instances": running.instances,
        "settings": snippet,
        "settings_yaml": yaml.safe_dump(snippet, sort_keys=False),
    }


def _print_tables(
    console: Console, running: Fleet, snippet: dict[str, Any], *, shown_yaml: bool
) -> None:
    table = Table()
    table.add_column("service")
    table.add_column("count", justify="right")
    table.add_column("instances")
    for key, addresses in running.instances.items():
        shown = ", ".join(addresses[:_SHOWN_PER_SERVICE])
        if len(addresses) > _SHOWN_PER_SERVICE:
            shown += f", … (+{len(addresses) - _SHOWN_PER_SERVICE})"
        table.add_row(key, str(len(addresses)), shown)
    console.print("[bold]switchover local fleet[/bold]", soft_wrap=True)
    console.print(f"Redis: [bold]{snippet['redis']['url']}[/bold]", soft_wrap=True)
    console.print(table)
    if shown_yaml:
        console.print(
            "Settings for [bold]switchover --config[/bold] (--write FILE saves them):",
            soft_wrap=True,
        )
        # Plain lines, neither padded nor wrapped: copied as they stand, they are valid YAML.
        text = yaml.safe_dump(snippet, sort_keys=False).rstrip("\n")
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    example = running.gateways[0].address if running.gateways else running.portal.address
    console.print(
        f"Faults: curl -X POST http://{example}/_fleet/faults -d '{{\"lag\": 2}}'   (knobs: "
        "lag, down, stale, stale_tenants, reject_code, slow, unhealthy; ?port=N targets another "
        "instance)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print("Press Ctrl-C to stop.")


__all__ = ["fleet", "settings_snippet"]
