"""Property-based fuzzing of the API from its own OpenAPI document (schemathesis): generated
requests, valid and not, against a real ``switchover serve`` process on loopback, must never
get a server error; the same with a wrong token (401) and a viewer's token (403 on every
operation)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import hypothesis.strategies as st
import pytest
import schemathesis
import yaml
from schemathesis.checks import not_a_server_error

from switchover.fleet.redis_server import RedisServer
from tests.integration.test_cli import _env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPERATOR = "fuzz-operator-token-0123456789"
VIEWER = "fuzz-viewer-token-0123456789ab"
LISTEN = ("--listen", "127.0.0.1:0")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``serve`` process on its own store and redis-server; its URL."""
    home = tmp_path_factory.mktemp("fuzz")
    with RedisServer() as redis:
        config = home / "settings.yaml"
        values = {
            "store": str(home / "switchover.db"),
            "redis": {"url": redis.url, "socket_timeout": 1.0},
            "http": {"connect_timeout": 0.5, "read_timeout": 0.5, "total_timeout": 1.0},
            "retry": {"attempts": 0},
            "serve": {
                "tokens": [
                    {"name": "fuzzer", "role": "operator", "token": OPERATOR},
                    {"name": "reader", "role": "viewer", "token": VIEWER},
                ]
            },
        }
        config.write_text(yaml.safe_dump(values), encoding="utf-8")
        err = (home / "serve.err").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "switchover", "--config", str(config), "serve", *LISTEN],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=home,
            env=_env(),
        )
        try:
            deadline = time.monotonic() + 30
            url = None
            while url is None and time.monotonic() < deadline:
                found = re.search(
                    r"serving .* at (http://127\.0\.0\.1:\d+)", (home / "serve.err").read_text()
                )
                url = found.group(1) if found else None
                time.sleep(0.05)
            assert url is not None, (home / "serve.err").read_text()
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            err.close()
        server_log = (home / "serve.err").read_text()
        assert "Traceback" not in server_log, server_log
        assert OPERATOR not in server_log
        assert VIEWER not in server_log


@pytest.fixture(scope="module")
def api_schema(served: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(served + "/openapi.json")


FUZZ = hypothesis.settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    derandomize=True,
)


def _cases(api_schema: schemathesis.BaseSchema) -> st.SearchStrategy[schemathesis.Case]:
    """Generated requests for every operation of the document."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    return st.one_of([operation.as_strategy() for operation in operations])


def test_no_request_of_an_operator_gets_a_server_error(
    api_schema: schemathesis.BaseSchema,
) -> None:
    @FUZZ
    @hypothesis.given(case=_cases(api_schema))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {OPERATOR}"},
            checks=[not_a_server_error],
            timeout=10,
        )

    check()


def test_a_wrong_token_is_always_401_and_a_viewer_never_operates(
    api_schema: schemathesis.BaseSchema,
) -> None:
    @FUZZ
    @hypothesis.given(case=_cases(api_schema))
    def check(case: schemathesis.Case) -> None:
        path = case.operation.path
        public = path in ("/healthz", "/readyz")
        wrong = case.call(headers={"Authorization": "Bearer not-a-token-0123456789"}, timeout=10)
        if not public:
            assert wrong.status_code == 401, (path, wrong.text)
        as_viewer = case.call(headers={"Authorization": f"Bearer {VIEWER}"}, timeout=10)
        assert as_viewer.status_code < 500, (path, as_viewer.text)
        if case.method.upper() == "POST":
            assert as_viewer.status_code == 403, (path, as_viewer.status_code)

    check()


def test_the_spec_lists_every_route(api_schema: schemathesis.BaseSchema, served: str) -> None:
    paths = {Path(p).as_posix() for p in api_schema.raw_schema["paths"]}
    assert {
        "/healthz",
        "/readyz",
        "/metrics",
        "/plans",
        "/plans/{plan_id}",
        "/plans/{plan_id}/events",
        "/plans/{plan_id}/tasks/{tenant_id}",
        "/tenants/{tenant_id}",
        "/plans/{plan_id}/{action}",
        "/tenants/{tenant_id}/{action}",
        "/plans/{plan_id}/tasks/{tenant_id}/{action}",
    } <= paths
