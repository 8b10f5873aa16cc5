"""HTTP call steps: the agent portal notify call and the ASBC traffic switch."""

from __future__ import annotations

import random
from typing import Any

from switchover.discovery.protocol import DiscoveryQuery
from switchover.errors import ErrorType, StepFailedError
from switchover.secrets import Scrubber
from switchover.steps.http_client import HttpClient
from switchover.steps.protocol import StepContext
from switchover.steps.retry import retry_transient

PORTAL_SERVICE = "portalService"
ASBC_SERVICE = "asbcService"


def _scrubber(ctx: StepContext) -> Scrubber:
    """Masks the credentials these steps send, in whatever a peer answers.

    A peer refusing a request may quote it back (an ASBC's 401 body can echo the
    ``Authorization`` header), and what a step copies from an answer into an error reaches run
    output, events and the store. Built only on the failure path, so success costs nothing.
    """
    token = ctx.settings.asbc.token
    return Scrubber([token.get_secret_value()]) if token is not None else Scrubber.empty()


def _success_code(code: Any) -> bool:
    # The portal sends the code as the string "0" and the ASBC as the number 0; either side
    # switching representation must not turn a success into a failure.
    return code is not None and not isinstance(code, bool) and str(code) == "0"


class PortalNotifyStep:
    """Tells the agent portal that a tenant now lives in its target deploy unit.

    ``POST {portal.scheme}://{instance}{portal.path}`` with
    ``{"tenantId", "targetDeployUnit", "timestamp": "<epoch ms>"}`` to one random instance of
    ``portalService``; a transient failure is retried on a freshly picked instance. Success
    means HTTP 2xx and ``code == "0"``; anything else is BUSINESS_ERROR with the code and message,
    in which any configured credential the portal echoes is masked as ``***``.
    """

    name = "portal-notify"

    def __init__(self, http: HttpClient, *, rng: random.Random | None = None) -> None:
        """Create the step.

        Args:
            http: the shared HTTP client.
            rng: picks the instance (a seeded one in tests).
        """
        self._http = http
        self._rng = rng or random.Random()
        self._body: dict[str, Any] = {}
        self._answer: tuple[str, int, Any] | None = None

    async def prepare(self, ctx: StepContext) -> None:
        """Build the request body from the config and the clock."""
        unit = ctx.config.deploy_unit_name
        if not unit:
            raise StepFailedError(
                ErrorType.VALIDATION_ERROR,
                f"tenant {ctx.tenant_id} has no deployUnitName to notify the portal about",
            )
        self._body = {
            "tenantId": ctx.tenant_id,
            "targetDeployUnit": unit,
            "timestamp": str(int(ctx.clock.now() * 1000)),
        }

    async def execute(self, ctx: StepContext) -> None:
        """Send the notification, retrying transient failures on another random instance."""
        query = DiscoveryQuery(PORTAL_SERVICE, ctx.config.nacos_namespace)
        settings = ctx.settings.portal

        async def attempt() -> tuple[str, int, Any]:
            instance = self._rng.choice(await ctx.discovery.instances(query))
            url = f"{settings.scheme}://{instance}{settings.path}"
            status, body = await self._http.post_json(url, self._body)
            return instance, status, body

        self._answer = await retry_transient(
            attempt, policy=ctx.settings.retry, clock=ctx.clock, counters=ctx.counters
        )

    async def validate(self, ctx: StepContext) -> None:
        """Check the portal answered 2xx with ``code == "0"``."""
        if self._answer is None:
            raise StepFailedError(ErrorType.SYSTEM_ERROR, "portal notify validated before execute")
        instance, status, body = self._answer
        code = body.get("code") if isinstance(body, dict) else None
        if 200 <= status < 300 and _success_code(code):
            return
        message = body.get("message", body.get("msg")) if isinstance(body, dict) else None
        scrubber = _scrubber(ctx)
        code, message = scrubber.scrub_data(code), scrubber.scrub_data(message)
        raise StepFailedError(
            ErrorType.BUSINESS_ERROR,
            f"portal {instance} refused the switch of tenant {ctx.tenant_id}: HTTP {status}, "
            f"code {code!r}, message {message!r}",
            details={"instance": instance, "status": status, "code": code, "message": message},
        )


_NUMBER_KEYS = ("calledNumberMatch", "calledNumber", "number", "rule")
_MESSAGE_KEYS = ("message", "msg", "reason", "errorMsg")


def _failed_numbers(body: Any) -> list[dict[str, Any]]:
    """The ``data.failList`` items as ``{"number", "message"}``; tolerant of the item shape."""
    data = body.get("data") if isinstance(body, dict) else None
    items = data.get("failList") if isinstance(data, dict) else None
    failed: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict):
            number = next((item[k] for k in _NUMBER_KEYS if k in item), None)
            message = next((item[k] for k in _MESSAGE_KEYS if k in item), None)
            failed.append({"number": number, "message": message})
        else:
            failed.append({"number": item, "message": None})
    return failed


class AsbcSwitchStep:
    """Moves a tenant's called numbers to its target trunk group on the ASBC.

    ``POST {asbc.scheme}://{instance}{asbc.path}`` with
    ``{"calledNumberMatch": [rules], "targetTrunkGroupName": trunkGroup}`` and, when
    ``asbc.token`` is set, ``Authorization: Bearer <token>``. Success means HTTP 2xx,
    ``code == 0`` and an empty ``data.failList``; otherwise BUSINESS_ERROR listing every failed
    number with its message. The token never appears in messages or details, even where the
    ASBC quotes it back (a 401 echoing the ``Authorization`` header): it is masked as ``***``.
    """

    name = "asbc-switch"

    def __init__(self, http: HttpClient, *, rng: random.Random | None = None) -> None:
        """Create the step.

        Args:
            http: the shared HTTP client.
            rng: picks the instance when there are several (a seeded one in tests).
        """
        self._http = http
        self._rng = rng or random.Random()
        self._body: dict[str, Any] = {}
        self._answer: tuple[str, int, Any] | None = None

    async def prepare(self, ctx: StepContext) -> None:
        """Build the request body from the config's rules and trunk group."""
        rules, trunk = ctx.config.called_number_rules, ctx.config.trunk_group
        if not rules or not trunk:
            raise StepFailedError(
                ErrorType.VALIDATION_ERROR,
                f"tenant {ctx.tenant_id} needs calledNumberRules and trunkGroup for the ASBC",
            )
        self._body = {"calledNumberMatch": list(rules), "targetTrunkGroupName": trunk}

    async def execute(self, ctx: StepContext) -> None:
        """Send the switch request, retrying transient failures."""
        query = DiscoveryQuery(ASBC_SERVICE, ctx.config.nacos_namespace)
        settings = ctx.settings.asbc
        headers: dict[str, str] = {}
        if settings.token is not None and settings.token.get_secret_value():
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"

        async def attempt() -> tuple[str, int, Any]:
            instance = self._rng.choice(await ctx.discovery.instances(query))
            url = f"{settings.scheme}://{instance}{settings.path}"
            status, body = await self._http.post_json(
                url, self._body, headers, verify_tls=settings.verify_tls
            )
            return instance, status, body

        self._answer = await retry_transient(
            attempt, policy=ctx.settings.retry, clock=ctx.clock, counters=ctx.counters
        )

    async def validate(self, ctx: StepContext) -> None:
        """Check the ASBC answered 2xx, ``code == 0`` and no failed number."""
        if self._answer is None:
            raise StepFailedError(ErrorType.SYSTEM_ERROR, "ASBC switch validated before execute")
        instance, status, body = self._answer
        code = body.get("code") if isinstance(body, dict) else None
        failed = _failed_numbers(body)
        if 200 <= status < 300 and _success_code(code) and not failed:
            return
        message = body.get("message", body.get("msg")) if isinstance(body, dict) else None
        # Scrubbed before any repr: an escaped token would no longer match.
        scrubber = _scrubber(ctx)
        code, message = scrubber.scrub_data(code), scrubber.scrub_data(message)
        failed = scrubber.scrub_data(failed)
        summary = f"HTTP {status}, code {code!r}, message {message!r}"
        if failed:
            listed = "; ".join(f"{f['number']}: {f['message']}" for f in failed)
            summary += f", {len(failed)} failed number(s): {listed}"
        raise StepFailedError(
            ErrorType.BUSINESS_ERROR,
            f"ASBC {instance} did not switch tenant {ctx.tenant_id} to trunk group "
            f"{self._body.get('targetTrunkGroupName')}: {summary}",
            details={
                "instance": instance,
                "status": status,
                "code": code,
                "message": message,
                "failed": failed,
            },
        )
