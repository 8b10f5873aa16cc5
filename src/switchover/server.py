"""``switchover serve``: one long-lived engine on the configured store, behind the HTTP API.

The engine takes the store's lease, recovers unfinished work and runs it; the API (FastAPI on
uvicorn, in the same event loop) is the way every operator, script and dashboard reaches it.
SIGTERM or Ctrl-C: stop accepting requests, stop admitting tasks, let running stages reach
their boundary within ``serve.shutdown_grace``, and exit with everything durable; the next
start continues where this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog
import uvicorn
from fastapi import FastAPI

from switchover import logs
from switchover.alerts import AlertDispatcher
from switchover.api.app import ApiContext, create_app
from switchover.api.auth import ensure_token_file, token_book, token_file
from switchover.engine.engine import Engine
from switchover.engine.session import Session
from switchover.errors import SettingsError, SwitchoverError
from switchover.metrics import Metrics
from switchover.secrets import Scrubber
from switchover.service import Operator, Queries, preflight_of
from switchover.settings import Settings
from switchover.wiring import Runtime, runtime


@dataclass(frozen=True, slots=True)
class Started:
    """What a started server tells its user: where it listens and where its token is."""

    url: str
    token_file: Path | None
    token_created: bool
    recovered: int
    """Tasks found unfinished and continued."""


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` as a pair.

    Raises:
        SettingsError: not ``host:port`` with a port from 0 to 65535.
    """
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SettingsError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it a kept-alive client waits for a delayed ACK (~40 ms) on every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --listen)"
        ) from exc
    sock.set_inheritable(True)
    return sock


async def serve(
    settings: Settings,
    *,
    listen: str | None = None,
    on_started: Callable[[Started], None] = lambda _: None,
) -> bool:
    """Serve until SIGTERM / SIGINT; whether every running stage reached its boundary.

    Raises:
        SettingsError: ``listen`` is invalid or taken.
        EngineBusyError: another live engine owns the store.
        StoreError: the store cannot be opened.
    """
    host, port = parse_listen(listen or settings.serve.listen)
    log = logs.configure(Scrubber(settings.secret_values()))
    generated, path, created = None, None, False
    if not settings.serve.tokens:
        path = token_file(settings)
        try:
            generated, created = ensure_token_file(path)
        except OSError as exc:
            raise SettingsError(f"cannot create the token file {path}: {exc}") from exc
    sock = _bind(host, port)
    with contextlib.closing(sock):
        async with runtime(settings) as rt:
            return await _serve(rt, sock, generated, path, created, log, on_started)


def uvicorn_config(app: FastAPI) -> uvicorn.Config:
    """How ``serve`` runs the app: our own logs, no lifespan, a short graceful shutdown."""
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=2,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, whose SIGTERM / SIGINT only ask it to exit: the engine still has to
    reach its stage boundaries after the server stops (uvicorn would re-raise the signal and
    end the process first)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Served:
    """The API over a serving engine, and how to detach what it listens to."""

    app: FastAPI
    engine: Engine
    session: Session
    metrics: Metrics
    alerts: AlertDispatcher
    detach: Callable[[], None]


def build(
    rt: Runtime,
    session: Session,
    engine: Engine,
    generated: str | None,
    log: structlog.stdlib.BoundLogger | None = None,
) -> Served:
    """The API and the metrics over ``engine`` (already serving through ``session``)."""
    settings = rt.settings
    alerts = AlertDispatcher(rt.store, settings, rt.clock)
    metrics = Metrics(alerts)
    engine.observe_commits(metrics.observe_commit)
    listening = [engine.subscribe_all(metrics.observe)]
    if log is not None:
        logger = log
        listening.append(engine.subscribe_all(lambda events: logs.log_events(logger, events)))

    async def ready() -> Mapping[str, bool]:
        checks = {"engine": engine.fatal is None, "store": True, "redis": True}
        try:
            await rt.store.get_lease()
        except SwitchoverError:
            checks["store"] = False
        try:
            await rt.redis.ping()
        except SwitchoverError:
            checks["redis"] = False
        return checks

    async def render_metrics() -> bytes:
        return metrics.render(engine.metrics, await rt.store.plan_summaries())

    app = create_app(
        ApiContext(
            settings=settings,
            queries=Queries(rt.store),
            operator=Operator(session, settings, preflight_of(rt)),
            tokens=token_book(settings, generated),
            ready=ready,
            metrics=render_metrics,
        )
    )

    def detach() -> None:
        engine.observe_commits(None)
        for stop in listening:
            stop()

    return Served(app, engine, session, metrics, alerts, detach)


async def _serve(
    rt: Runtime,
    sock: socket.socket,
    generated: str | None,
    path: Path | None,
    created: bool,
    log: structlog.stdlib.BoundLogger,
    on_started: Callable[[Started], None],
) -> bool:
    settings = rt.settings
    session = rt.session()
    engine = await session.serve()
    served = build(rt, session, engine, generated, log)
    server = _Server(uvicorn_config(served.app))
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    url = f"http://{shown_host}:{bound_port}"
    recovered = len(engine.executing_task_ids())
    log.info("serving", url=url, store=str(settings.store), recovered=recovered)
    on_started(Started(url, path, created, recovered))
    # Alerts only read the store: a slow or failing webhook never delays a task.
    delivering = asyncio.create_task(served.alerts.run(), name="switchover-alerts")
    try:
        await server.serve(sockets=[sock])
    finally:
        delivering.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await delivering
        grace = settings.serve.shutdown_grace
        log.info("stopping", grace=grace)
        clean = await engine.quiesce(grace)
        served.detach()
        await session.close()
        log.info("stopped", clean=clean)
    return clean


def run(settings: Settings, *, listen: str | None, on_started: Callable[[Started], None]) -> bool:
    """``serve`` in a fresh event loop (the CLI's entry)."""
    return asyncio.run(serve(settings, listen=listen, on_started=on_started))
