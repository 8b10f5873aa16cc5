"""The fleet's Nacos look-alike speaks the open API as real Nacos does."""

from __future__ import annotations

import httpx

from switchover.fleet.nacos import NacosInstance, start_nacos

LIST = "/nacos/v1/ns/instance/list"
LOGIN = "/nacos/v1/auth/login"


async def test_healthy_only_filters_and_default_namespace_is_public() -> None:
    server, base = await start_nacos(
        {"public": {"svc": [NacosInstance("127.0.0.1", 1), NacosInstance("127.0.0.1", 2, False)]}}
    )
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            every = (await http.get(LIST, params={"serviceName": "svc"})).json()
            healthy = (
                await http.get(LIST, params={"serviceName": "svc", "healthyOnly": "true"})
            ).json()
    finally:
        await server.stop()
    assert [h["port"] for h in every["hosts"]] == [1, 2]
    assert [h["port"] for h in healthy["hosts"]] == [1]
    assert healthy["name"] == "DEFAULT_GROUP@@svc"


async def test_auth_requires_a_token_from_login() -> None:
    server, base = await start_nacos({"ns": {"svc": ["127.0.0.1:1"]}}, username="u", password="p")
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            params = {"serviceName": "svc", "namespaceId": "ns"}
            assert (await http.get(LIST, params=params)).status_code == 403
            refused = await http.post(LOGIN, data={"username": "u", "password": "x"})
            assert refused.status_code == 403
            login = (await http.post(LOGIN, data={"username": "u", "password": "p"})).json()
            listed = await http.get(LIST, params={**params, "accessToken": login["accessToken"]})
    finally:
        await server.stop()
    assert listed.status_code == 200
    assert listed.json()["hosts"][0]["ip"] == "127.0.0.1"
    assert login["tokenTtl"] == 18000


async def test_failing_switch_answers_500_everywhere() -> None:
    server, base = await start_nacos()
    server.failing = True
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get(LIST, params={"serviceName": "svc"})).status_code == 500
            assert (await http.post(LOGIN, data={})).status_code == 500
    finally:
        await server.stop()
