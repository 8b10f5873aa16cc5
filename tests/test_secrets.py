"""Scrubber: every form of every secret masked in text and JSON-like data, and free without any."""

from __future__ import annotations

import json
from types import MappingProxyType
from urllib.parse import quote

import pytest

from switchover.secrets import MASK, Scrubber

TOKEN = "s3cret-token"


def test_every_occurrence_in_text_is_masked() -> None:
    scrubber = Scrubber([TOKEN])
    text = f"bad header Authorization: Bearer {TOKEN}; again {TOKEN}"
    assert scrubber.scrub(text) == "bad header Authorization: Bearer ***; again ***"
    assert MASK == "***"


def test_text_without_a_secret_comes_back_as_the_same_object() -> None:
    text = "nothing to hide here"
    assert Scrubber([TOKEN]).scrub(text) is text


def test_several_secrets_are_all_masked() -> None:
    scrubber = Scrubber(["alpha-1", "beta-22", "gamma-333"])
    assert scrubber.scrub("alpha-1 / beta-22 / gamma-333 / delta") == "*** / *** / *** / delta"


def test_a_secret_containing_another_is_masked_whole() -> None:
    """Longest first: no tail of the longer secret survives next to the mask."""
    for order in (["abcd", "abcdef"], ["abcdef", "abcd"]):
        scrubber = Scrubber(order)
        assert scrubber.scrub("x abcdef y abcd z") == "x *** y *** z"


def test_overlapping_occurrences_of_two_secrets_become_one_mask() -> None:
    scrubber = Scrubber(["abcd", "cdef"])
    assert scrubber.scrub("xabcdefx") == "x***x"
    assert scrubber.scrub("abcd-cdef") == "***-***"


def test_repeated_secrets_next_to_each_other_are_each_masked() -> None:
    assert Scrubber(["abcd"]).scrub("abcdabcd") == "******"


def test_the_percent_encoded_form_is_masked_in_either_hex_case() -> None:
    secret = "p@ss/w+rd="
    encoded = quote(secret, safe="")
    assert encoded == "p%40ss%2Fw%2Brd%3D"
    scrubber = Scrubber([secret])
    assert scrubber.scrub(f"?password={encoded}&x=1") == "?password=***&x=1"
    assert scrubber.scrub(f"?password={encoded.lower()}") == "?password=***"
    assert scrubber.scrub(f"raw {secret}") == "raw ***"


def test_regex_metacharacters_in_secrets_are_literal() -> None:
    scrubber = Scrubber(["a.b*c"])
    assert scrubber.scrub("a.b*c aXbbc") == "*** aXbbc"


def test_short_secrets_are_masked_too() -> None:
    """Over-masking unrelated text beats leaking a short secret."""
    assert Scrubber(["ab"]).scrub("tab ab") == "t*** ***"


def test_empty_and_missing_secrets_are_ignored() -> None:
    scrubber = Scrubber(["", None])
    assert not scrubber
    assert scrubber.scrub("anything") == "anything"


def test_nested_data_is_scrubbed_keys_included() -> None:
    scrubber = Scrubber([TOKEN])
    data = {
        "message": f"Bearer {TOKEN}",
        TOKEN: [f"x{TOKEN}x", (TOKEN, 401), {"deep": [TOKEN]}],
        "code": 401,
        "ok": False,
        "none": None,
        "ratio": 0.5,
    }
    assert scrubber.scrub_data(data) == {
        "message": "Bearer ***",
        "***": ["x***x", ("***", 401), {"deep": ["***"]}],
        "code": 401,
        "ok": False,
        "none": None,
        "ratio": 0.5,
    }
    assert TOKEN not in json.dumps(scrubber.scrub_data(data))
    assert data["message"] == f"Bearer {TOKEN}"  # the input is left alone


def test_read_only_mappings_come_back_as_dicts() -> None:
    scrubber = Scrubber([TOKEN])
    assert scrubber.scrub_data(MappingProxyType({"m": TOKEN})) == {"m": "***"}


def test_scalars_come_back_as_they_are() -> None:
    scrubber = Scrubber([TOKEN])
    marker = object()
    for value in (1, 2.5, True, None, marker):
        assert scrubber.scrub_data(value) is value


@pytest.mark.parametrize("scrubber", [Scrubber.empty(), Scrubber(), Scrubber([""])])
def test_without_secrets_everything_comes_back_unchanged(scrubber: Scrubber) -> None:
    data = {"a": ["b", ("c",)], "token": TOKEN}
    text = f"Bearer {TOKEN}"
    assert scrubber.scrub(text) is text
    assert scrubber.scrub_data(data) is data
    assert not scrubber


def test_empty_is_one_shared_instance() -> None:
    assert Scrubber.empty() is Scrubber.empty()


def test_without_secrets_data_comes_back_as_the_same_object() -> None:
    data = {"message": "x" * 1000, "items": list(range(100))}
    assert Scrubber.empty().scrub_data(data) is data


def test_the_repr_never_shows_a_secret() -> None:
    scrubber = Scrubber([TOKEN, "other-secret"])
    assert TOKEN not in repr(scrubber)
    assert repr(scrubber) == "Scrubber(<2 secrets>)"
