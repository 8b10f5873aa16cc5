"""The ``switchover`` command: the typer app, its global options, and the plumbing every command
shares (settings, one-line errors, exit codes). The commands live in ``run_cmd``,
``status_cmd`` and ``ops_cmd``; each parses its arguments, calls the service layer
(``switchover.service``) and renders what it returns.
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from switchover import __version__
from switchover.cli.console import err, out, print_json
from switchover.cli.exits import Exit, exit_for_error
from switchover.errors import PlanValidationError, SettingsError, SwitchoverError
from switchover.secrets import Scrubber

if TYPE_CHECKING:
    from switchover.domain.records import PlanSpec, Target
    from switchover.service import Operations, Views
    from switchover.settings import Settings

app = typer.Typer(
    name="switchover",
    help=(
        "Switch tenants between deployment units, safely, and back.\n\n"
        "Exit codes: 0 ok · 1 the work ended badly (plan FAILED/CANCELLED, task FAILED or "
        "ROLLBACK_FAILED) · 2 invalid input · 3 not found · 4 refused (nothing changed) · "
        "5 paused · 6 store/engine unavailable · 130 interrupted twice."
    ),
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")

_T = TypeVar("_T")

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
PlanOption = Annotated[str | None, typer.Option("--plan", help="A plan id.")]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="A tenant id (its most recent task).")
]
TaskOption = Annotated[str | None, typer.Option("--task", help="A task id (PLAN/TENANT).")]
ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", help="Why (recorded with who asked, e.g. a change ticket)."),
]


@dataclass
class Options:
    """The options of one invocation (given before the command; ``--json`` also after it)."""

    store: Path | None = None
    config: Path | None = None
    json: bool = False
    server: str | None = None
    scrubber: Scrubber = field(default_factory=Scrubber.empty)

    @classmethod
    def of(cls, ctx: typer.Context) -> Options:
        """The invocation's options (kept on the root context)."""
        root = ctx.find_root()
        if not isinstance(root.obj, Options):
            root.obj = cls()
        return root.obj

    def with_json(self, flag: bool) -> bool:
        """``--json`` given before or after the command."""
        self.json = self.json or flag
        return self.json

    def command_line(self, *words: str) -> str:
        """A switchover command as the user can paste it, with this one's --store/--config
        (and --server)."""
        parts = ["switchover"]
        if self.server is not None:
            parts += ["--server", self.server]
        if self.store is not None:
            parts += ["--store", str(self.store.absolute())]
        if self.config is not None:
            parts += ["--config", str(self.config.absolute())]
        return shlex.join([*parts, *words])

    def scrub(self, text: str) -> str:
        """``text`` with every configured secret masked."""
        return self.scrubber.scrub(text)


def _version(value: bool) -> None:
    if value:
        out.print(f"switchover {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="State store file (default ./switchover.db, or SWITCHOVER_STORE).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Settings file (YAML); SWITCHOVER_* variables override it."),
    ] = None,
    json_output: JsonOption = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="Talk to a 'switchover serve' at this URL (or SWITCHOVER_SERVER; token from "
            "SWITCHOVER_TOKEN, remote.token, or the token file beside the store).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Switch tenants between deployment units, safely, and back."""
    ctx.obj = Options(store=store, config=config, json=json_output, server=server)


def fail(opts: Options, code: Exit, message: str) -> NoReturn:
    """Print one clear line to stderr (or a JSON error) and exit with ``code``."""
    message = opts.scrub(message)
    if opts.json:
        print_json(out, {"ok": False, "exit_code": int(code), "error": message})
    else:
        err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(int(code))


def settings(opts: Options) -> Settings:
    """The effective settings (``--store`` wins over the file and environment)."""
    from switchover.settings import load_settings, locate_settings_file

    overrides: dict[str, Any] = {}
    if opts.store is not None:
        overrides["store"] = opts.store
    found = locate_settings_file(opts.config)
    if found is not None and opts.config is None:
        opts.config = found.absolute()  # hints name the file this command found
    try:
        loaded = load_settings(found, **overrides)
    except SettingsError as exc:
        fail(opts, Exit.INVALID, str(exc))
    opts.scrubber = Scrubber(loaded.secret_values())
    return loaded


def actor() -> str:
    """Who the local command line acts for: ``user@host``."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def remote(opts: Options, conf: Settings) -> tuple[str, str | None] | None:
    """The server to talk to (``--server``, ``SWITCHOVER_SERVER``, ``remote.url``) and its
    token (``SWITCHOVER_TOKEN``, ``remote.token``, the token file beside the store); None:
    work on the store directly."""
    import os

    url = opts.server or os.environ.get("SWITCHOVER_SERVER") or conf.remote.url
    if not url:
        return None
    if opts.server is None:
        opts.server = url
    token = os.environ.get("SWITCHOVER_TOKEN") or (
        conf.remote.token.get_secret_value() if conf.remote.token else None
    )
    if token is None:
        from switchover.api.auth import read_token_file, token_file

        token = read_token_file(token_file(conf))
    if token:
        opts.scrubber = Scrubber([*conf.secret_values(), token])
    return url, token


@asynccontextmanager
async def views(opts: Options, conf: Settings) -> AsyncIterator[Views]:
    """What the command reads: the server's views, or the store's."""
    found = remote(opts, conf)
    if found is not None:
        from switchover.client import RemoteQueries, connect

        async with connect(*found) as connection:
            yield RemoteQueries(connection)
        return
    from switchover.service import queries

    async with queries(conf) as q:
        yield q


@asynccontextmanager
async def operations(opts: Options, conf: Settings) -> AsyncIterator[Operations]:
    """Who performs the command: the server, or the live engine / this command's own."""
    found = remote(opts, conf)
    if found is not None:
        from switchover.client import RemoteOperator, connect

        async with connect(*found) as connection:
            yield RemoteOperator(connection)
        return
    from switchover.service import operator

    async with operator(conf) as op:
        yield op


def run_async(opts: Options, coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a command's coroutine; turn known errors into one line and an exit code."""
    import asyncio

    try:
        return asyncio.run(coro)
    except SwitchoverError as exc:
        fail(opts, exit_for_error(exc), str(exc))
    except KeyboardInterrupt:
        fail(opts, Exit.INTERRUPTED, "interrupted")


def read_plan(opts: Options, path: Path, max_concurrency: int) -> PlanSpec:
    """Read and validate a plan file (every problem, with tenant and field).

    Raises:
        PlanValidationError: the file's content is invalid.
    """
    return read_plan_file(opts, path, max_concurrency)[0]


def read_plan_file(opts: Options, path: Path, max_concurrency: int) -> tuple[PlanSpec, bytes]:
    """Read and validate a plan file; the plan and the file's content (what a server gets).

    Raises:
        PlanValidationError: the file's content is invalid.
    """
    from switchover.domain.planfile import parse_plan_bytes

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(opts, Exit.INVALID, f"cannot read plan file {str(path)!r}: {exc.strerror or exc}")
    return parse_plan_bytes(data, default_max_concurrency=max_concurrency), data


def plan_problems(opts: Options, path: Path, exc: PlanValidationError) -> NoReturn:
    """Report every problem of an invalid plan file, and exit 2."""
    if opts.json:
        issues = [{"tenant": i.tenant, "field": i.field, "message": i.message} for i in exc.issues]
        print_json(out, {"ok": False, "exit_code": int(Exit.INVALID), "issues": issues})
    else:
        err.print(f"[bold red]{path}: {len(exc.issues)} problem(s)[/]")
        for issue in exc.issues:
            err.print(f"  {issue}", highlight=False, markup=False)
    raise typer.Exit(int(Exit.INVALID))


def one_target(
    opts: Options, plan: str | None, tenant: str | None, task: str | None, *, plans: bool
) -> Target:
    """Exactly one of --plan / --tenant / --task, not empty."""
    given = [
        (k, v) for k, v in (("plan", plan), ("tenant", tenant), ("task", task)) if v is not None
    ]
    allowed = "--plan, --tenant or --task" if plans else "--tenant or --task"
    if len(given) != 1 or (given[0][0] == "plan" and not plans):
        fail(opts, Exit.INVALID, f"name exactly one of {allowed}")
    kind, key = given[0]
    if not key.strip():
        fail(opts, Exit.INVALID, f"--{kind} needs a {kind} id, not an empty string")
    from switchover.domain.records import Target, TargetKind

    return Target(TargetKind(kind), key)


# The commands register themselves on ``app`` when imported.
from switchover.cli import ops_cmd, plan_cmd, run_cmd, status_cmd  # noqa: E402

__all__ = ["Options", "app", "err", "ops_cmd", "out", "plan_cmd", "run_cmd", "status_cmd"]
