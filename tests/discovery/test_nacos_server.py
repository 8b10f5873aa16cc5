"""The fleet's Nacos look-alike speaks the open APIs v1, v2 and v3 as real Nacos does."""

from __future__ import annotations

import httpx
import pytest

from switchover.fleet.nacos import (
    NACOS_1,
    NACOS_2,
    NACOS_3,
    NACOS_3_ONLY,
    V1_LIST,
    V1_LOGIN,
    V2_LIST,
    V3_LIST,
    V3_LOGIN,
    NacosInstance,
    NacosServer,
    start_nacos,
)

LIST = V1_LIST
LOGIN = V1_LOGIN
SERVICE = {
    "public": {
        "svc": [
            NacosInstance("127.0.0.1", 1),
            NacosInstance("127.0.0.1", 2, healthy=False),
            NacosInstance("127.0.0.1", 3, enabled=False),
            NacosInstance("127.0.0.1", 4, cluster="B"),
        ]
    }
}


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
    assert login["username"] == "u"
    assert all("password" not in r.query for r in server.requests)


async def test_failing_switch_answers_500_everywhere() -> None:
    server, base = await start_nacos()
    server.failing = True
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get(LIST, params={"serviceName": "svc"})).status_code == 500
            assert (await http.post(LOGIN, data={})).status_code == 500
            assert (await http.get(V3_LIST, params={"serviceName": "svc"})).status_code == 500
    finally:
        await server.stop()


async def test_v2_list_wraps_the_service_in_the_nacos_envelope() -> None:
    server, base = await start_nacos(SERVICE, apis={"v2"})
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            answer = await http.get(V2_LIST, params={"serviceName": "svc", "healthyOnly": "true"})
            missing = await http.get(V2_LIST)
    finally:
        await server.stop()
    body = answer.json()
    assert (body["code"], body["message"]) == (0, "success")
    assert body["data"]["name"] == "DEFAULT_GROUP@@svc"
    assert [h["port"] for h in body["data"]["hosts"]] == [1, 3, 4]
    assert missing.status_code == 400
    assert missing.json()["code"] == 10000


async def test_v3_list_answers_the_instances_without_disabled_ones_and_ignores_healthy_only() -> (
    None
):
    server, base = await start_nacos(SERVICE, apis=NACOS_3_ONLY)
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            answer = await http.get(V3_LIST, params={"serviceName": "svc", "healthyOnly": "true"})
    finally:
        await server.stop()
    body = answer.json()
    assert (body["code"], body["message"]) == (0, "success")
    assert [h["port"] for h in body["data"]] == [1, 2, 4]
    assert body["data"][0]["clusterName"] == "DEFAULT"


async def test_cluster_filter_is_clusters_in_v1_and_cluster_name_in_v2_and_v3() -> None:
    server, base = await start_nacos(SERVICE, apis=NACOS_3)
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            v1 = await http.get(V1_LIST, params={"serviceName": "svc", "clusters": "B"})
            v2 = await http.get(V2_LIST, params={"serviceName": "svc", "clusterName": "B"})
            v3 = await http.get(V3_LIST, params={"serviceName": "svc", "clusterName": "B"})
    finally:
        await server.stop()
    assert [h["port"] for h in v1.json()["hosts"]] == [4]
    assert [h["port"] for h in v2.json()["data"]["hosts"]] == [4]
    assert [h["port"] for h in v3.json()["data"]] == [4]


@pytest.mark.parametrize(
    ("apis", "served", "absent"),
    [
        (NACOS_1, [V1_LOGIN, V1_LIST], [V3_LOGIN, V2_LIST, V3_LIST]),
        (NACOS_2, [V1_LOGIN, V1_LIST, V2_LIST], [V3_LOGIN, V3_LIST]),
        (NACOS_3, [V1_LOGIN, V3_LOGIN, V1_LIST, V2_LIST, V3_LIST], []),
        (NACOS_3_ONLY, [V3_LOGIN, V3_LIST], [V1_LOGIN, V1_LIST, V2_LIST]),
    ],
)
@pytest.mark.parametrize("retired_status", [404, 410])
async def test_apis_not_served_answer_404_or_410(
    apis: frozenset[str], served: list[str], absent: list[str], retired_status: int
) -> None:
    server, base = await start_nacos(
        {"public": {"svc": ["127.0.0.1:1"]}},
        username="u",
        password="p",
        apis=apis,
        retired_status=retired_status,
    )
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            statuses: dict[str, int] = {}
            for path in [*served, *absent]:
                if path in (V1_LOGIN, V3_LOGIN):
                    answer = await http.post(path, data={"username": "u", "password": "p"})
                else:
                    answer = await http.get(path, params={"serviceName": "svc"})
                statuses[path] = answer.status_code
            unknown = await http.get("/nacos/v9/anything")
    finally:
        await server.stop()
    for path in served:
        assert statuses[path] in (200, 403), path  # 403: the lists want a token
    for path in absent:
        assert statuses[path] == retired_status, path
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "Not Found"  # no Nacos envelope: not Nacos' own 404
    assert server.paths()[-1] == "/nacos/v9/anything"


async def test_v2_and_v3_read_the_token_header_v1_only_the_parameter_or_bearer() -> None:
    server, base = await start_nacos(
        {"public": {"svc": ["127.0.0.1:1"]}}, username="u", password="p", apis=NACOS_3
    )
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            login = await http.post(V3_LOGIN, data={"username": "u", "password": "p"})
            token = login.json()["accessToken"]
            params = {"serviceName": "svc"}
            header = {"accessToken": token}
            v3 = await http.get(V3_LIST, params=params, headers=header)
            v2 = await http.get(V2_LIST, params=params, headers=header)
            v1_header = await http.get(V1_LIST, params=params, headers=header)
            v1_param = await http.get(V1_LIST, params={**params, "accessToken": token})
            v1_bearer = await http.get(
                V1_LIST, params=params, headers={"Authorization": f"Bearer {token}"}
            )
    finally:
        await server.stop()
    assert (v3.status_code, v2.status_code) == (200, 200)
    assert v1_header.status_code == 403
    assert (v1_param.status_code, v1_bearer.status_code) == (200, 200)
    assert server.requests[1].access_token == token
    assert server.requests[1].token_header


async def test_login_without_any_user_is_refused_and_unknown_apis_are_rejected() -> None:
    server, base = await start_nacos(apis=NACOS_3)
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            answer = await http.post(V3_LOGIN, data={"username": "nacos", "password": "nacos"})
    finally:
        await server.stop()
    assert answer.status_code == 403
    with pytest.raises(ValueError, match="v4"):
        NacosServer(apis={"v1", "v4"})
