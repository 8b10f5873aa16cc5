"""Settings loading: sources and precedence, file and environment errors, ranges, secrets."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from switchover import settings as settings_module
from switchover.errors import SettingsError
from switchover.secrets import Secret
from switchover.settings import (
    AsbcSettings,
    NacosSettings,
    RedisSettings,
    Settings,
    load_settings,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SWITCHOVER_* variable of the calling shell leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("SWITCHOVER_"):
            monkeypatch.delenv(name)


def settings_file(tmp_path: Path, content: str | bytes, name: str = "settings.yaml") -> Path:
    """A settings file holding ``content``."""
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def refusal(config_file: Path | str | None = None, **overrides: Any) -> str:
    """The message of the SettingsError that load_settings raises (fails if it loads)."""
    with pytest.raises(SettingsError) as info:
        load_settings(config_file, **overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- sources and precedence ------------------------------------------------------------------


def test_without_file_or_environment_the_defaults_apply() -> None:
    """load_settings() with nothing set equals the model's defaults."""
    assert load_settings() == Settings()


def test_precedence_is_overrides_then_environment_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each source wins over the ones below it, field by field within a section."""
    path = settings_file(
        tmp_path,
        "engine: {max_concurrency: 3, max_retries: 7}\nretry: {attempts: 5}\nstore: file.db\n",
    )
    monkeypatch.setenv("SWITCHOVER_ENGINE__MAX_CONCURRENCY", "4")
    monkeypatch.setenv("SWITCHOVER_STORE", "env.db")
    loaded = load_settings(path, store=Path("override.db"))
    assert loaded.engine.max_concurrency == 4  # environment over file
    assert loaded.engine.max_retries == 7  # file over default, merged with the environment's
    assert loaded.retry.attempts == 5
    assert loaded.store == Path("override.db")  # override over environment
    assert load_settings(path, engine={"max_concurrency": 9}).engine.max_retries == 7


def test_a_path_may_be_given_as_a_string(tmp_path: Path) -> None:
    """load_settings accepts a str path as well as a Path."""
    path = settings_file(tmp_path, "engine: {max_concurrency: 2}\n")
    assert load_settings(str(path)).engine.max_concurrency == 2


def test_no_hidden_global_carries_the_file_between_loads(tmp_path: Path) -> None:
    """Each load reads its own file, also when loads run at the same time in threads."""
    assert not hasattr(settings_module, "_YAML_FILE")
    paths = [settings_file(tmp_path, f"retry: {{attempts: {n}}}\n", f"s{n}.yaml") for n in range(8)]
    results: dict[int, int] = {}

    def load(n: int) -> None:
        for _ in range(20):
            results[n] = load_settings(paths[n]).retry.attempts
            assert results[n] == n

    threads = [threading.Thread(target=load, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n for n in range(8)}
    assert load_settings().retry.attempts == 3


def test_an_explicit_empty_mapping_is_a_file_without_settings(tmp_path: Path) -> None:
    """``{}`` is the way to say "no settings here"."""
    assert load_settings(settings_file(tmp_path, "{}\n")) == Settings()


# --- bad files -------------------------------------------------------------------------------

LAUGHS = (
    "l0: &l0 ["
    + ", ".join(["x"] * 10)
    + "]\n"
    + "".join(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]\n" for n in range(1, 8))
)
"""Ten values, and each level ten times the one before: 10**8 values in a few hundred bytes."""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("redis: [1\n", "not valid YAML: "),
        (b"redis:\x00 {}\n", "not valid YAML: unacceptable character U+0000"),
        (b"\xff\xferedis", "not UTF-8 text: invalid byte 0xff at offset 0"),
        ("just a string\n", "not a mapping of settings (got a string)"),
        ("42\n", "not a mapping of settings (got a number)"),
        ("- redis\n- engine\n", "not a mapping of settings (got a list)"),
        ("", "empty"),
        ("# every setting commented out\n", "empty"),
        ("engine: " + "[" * 200 + "]" * 200 + "\n", "nested deeper than 64 levels"),
        ("a: " + "{b: " * 100 + "1" + "}" * 100 + "\n", "nested deeper than 64 levels"),
        ("1: 2\n", "keys must be names of settings (found a number)"),
        ("? \n", "keys must be names of settings (found null)"),
        ("x: !!timestamp yesterday\n", "not a valid date or time"),
        (LAUGHS, "aliases expand the document"),
        ("x: 2024-13-45\n", "not a valid date or time"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
    ],
)
def test_a_file_that_is_no_settings_mapping_is_a_settings_error(
    tmp_path: Path, content: str | bytes, expected: str
) -> None:
    """Broken, binary, scalar, list, empty, deep or aliased files: one line naming the file."""
    path = settings_file(tmp_path, content)
    message = refusal(path)
    assert message.startswith(f"settings file {str(path)!r}: ")
    assert expected in message


def test_a_missing_file_or_a_directory_is_named(tmp_path: Path) -> None:
    """A path that is not a file says so, with the path as given."""
    assert (
        refusal(tmp_path / "nope.yaml")
        == f"settings file {str(tmp_path / 'nope.yaml')!r} not found"
    )
    assert refusal(tmp_path) == f"settings file {str(tmp_path)!r} is not a file"


def test_an_invalid_value_in_the_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    """Field problems of file values carry the file's name and the dotted field path."""
    path = settings_file(tmp_path, "engine: {max_concurrency: zero}\n")
    message = refusal(path)
    assert message.startswith("invalid settings: ")
    assert f"settings file {str(path)!r}: engine.max_concurrency: " in message


def test_a_yaml_message_never_quotes_a_stretch_of_the_file(tmp_path: Path) -> None:
    """An unknown tag is named in YAML's message; here it is elided, as it could be a secret."""
    message = refusal(settings_file(tmp_path, "asbc: {token: !hunter2 x}\n"))
    assert "hunter2" not in message
    assert "could not determine a constructor" in message


# --- the environment -------------------------------------------------------------------------


def test_invalid_json_in_a_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``SWITCHOVER_VERIFY='{bad'`` is blamed on SWITCHOVER_VERIFY, not on a file."""
    monkeypatch.setenv("SWITCHOVER_VERIFY", "{bad")
    message = refusal()
    assert message.startswith("environment variable SWITCHOVER_VERIFY: not valid JSON: ")
    assert "line 1, column 2" in message
    assert "None" not in message


def test_invalid_json_in_a_nested_variable_names_that_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A nested variable holding broken JSON is named itself, not its section."""
    monkeypatch.setenv("SWITCHOVER_DISCOVERY__HEALTH_CHECK", "true")
    monkeypatch.setenv("SWITCHOVER_DISCOVERY__FALLBACK_INSTANCES", '{"portalService": [')
    message = refusal()
    assert message.startswith(
        "environment variable SWITCHOVER_DISCOVERY__FALLBACK_INSTANCES: not valid JSON"
    )


def test_an_invalid_value_from_a_variable_names_the_variable_and_the_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each problem names where its value came from: the variable, or the file."""
    monkeypatch.setenv("SWITCHOVER_ENGINE__LEASE_TTL", "0")
    monkeypatch.setenv("SWITCHOVER_VERIFY", '{"interval": -1}')
    path = settings_file(tmp_path, "engine: {lease_ttl: 9, control_ttl: 0}\n")
    message = refusal(path)
    assert "environment variable SWITCHOVER_ENGINE__LEASE_TTL: engine.lease_ttl: " in message
    assert "environment variable SWITCHOVER_VERIFY: verify.interval: " in message
    assert f"settings file {str(path)!r}: engine.control_ttl: " in message


def test_an_unknown_nested_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in a nested variable's name is reported on that variable."""
    monkeypatch.setenv("SWITCHOVER_ENGINE__LEASE_TLL", "3")
    assert "environment variable SWITCHOVER_ENGINE__LEASE_TLL: engine.lease_tll: " in refusal()


def test_an_invalid_override_names_only_the_field() -> None:
    """A bad keyword argument is the caller's own; it is named by field only."""
    assert refusal(engine={"max_retries": -1}).startswith("invalid settings: engine.max_retries: ")


# --- ranges ----------------------------------------------------------------------------------

DURATIONS = [
    ("redis", "socket_timeout"),
    ("redis", "lock_ttl"),
    ("verify", "interval"),
    ("verify", "deadline"),
    ("verify", "rollback_interval"),
    ("http", "connect_timeout"),
    ("http", "read_timeout"),
    ("http", "total_timeout"),
    ("retry", "max_delay"),
    ("agent", "interval"),
    ("nacos", "cache_ttl"),
    ("engine", "heartbeat_interval"),
    ("engine", "control_poll_interval"),
    ("engine", "control_ttl"),
    ("engine", "lease_ttl"),
    ("engine", "stage_deadline"),
]


@pytest.mark.parametrize(("section", "name"), DURATIONS)
@pytest.mark.parametrize("value", ["0", "-1", ".inf", ".nan"])
def test_every_duration_must_be_positive_and_finite(
    tmp_path: Path, section: str, name: str, value: str
) -> None:
    """Timeouts, intervals, deadlines and TTLs of zero, below zero, infinite or NaN are refused."""
    message = refusal(settings_file(tmp_path, f"{section}: {{{name}: {value}}}\n"))
    assert f"{section}.{name}: " in message


@pytest.mark.parametrize(("section", "name"), DURATIONS)
def test_small_positive_durations_are_accepted(section: str, name: str) -> None:
    """Any positive, finite number of seconds is fine."""
    loaded = load_settings(**{section: {name: 0.001}})
    assert getattr(getattr(loaded, section), name) == 0.001


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"base_delay": -0.1}, "retry.base_delay"),
        ({"multiplier": 0.5}, "retry.multiplier"),
        ({"max_delay": 0}, "retry.max_delay"),
        ({"attempts": -1}, "retry.attempts"),
    ],
)
def test_retry_policy_ranges(values: dict[str, float], field: str) -> None:
    """base_delay ≥ 0, multiplier ≥ 1, max_delay > 0, attempts ≥ 0."""
    assert f"{field}: " in refusal(retry=values)


def test_retry_policy_edges_are_accepted() -> None:
    """No delay at all and a constant delay (multiplier 1) are valid policies."""
    loaded = load_settings(retry={"base_delay": 0, "multiplier": 1, "attempts": 0})
    assert (loaded.retry.base_delay, loaded.retry.multiplier) == (0, 1)


# --- text and secrets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "found"),
    [
        ("tok-123\n", "U+000A) at the end"),
        ("tok 123", "U+0020) at offset 3"),
        ("tok\t123", "U+0009) at offset 3"),
        ("tök-123", "a non-ASCII character at offset 1"),
    ],
)
def test_a_token_with_whitespace_or_odd_characters_is_refused(
    monkeypatch: pytest.MonkeyPatch, token: str, found: str
) -> None:
    """asbc.token is sent in a header: visible ASCII only, and the value is never echoed."""
    monkeypatch.setenv("SWITCHOVER_ASBC__TOKEN", token)
    message = refusal()
    assert "SWITCHOVER_ASBC__TOKEN: asbc.token: must be visible ASCII characters only" in message
    assert found in message
    assert "tok" not in message.replace("SWITCHOVER_ASBC__TOKEN", "").replace("asbc.token", "")


@pytest.mark.parametrize("password", ["pw\n", "p\x00w", "pw\r"])
def test_a_password_with_a_line_break_or_nul_is_refused(password: str) -> None:
    """nacos.password may hold most characters, but no control characters."""
    message = refusal(nacos={"password": password})
    assert "nacos.password: must not contain control characters" in message
    assert "pw" not in message.replace("password", "")


def test_a_password_with_spaces_and_any_script_is_fine() -> None:
    """Spaces and non-ASCII letters are ordinary in passwords."""
    loaded = load_settings(nacos={"password": " pässwört mit Leerzeichen "})
    assert loaded.nacos.password is not None


@pytest.mark.parametrize("url", ["redis://h:6379/0\n", "redis://h:6379/0 ", "redis://\x00h/0"])
def test_a_redis_url_with_whitespace_or_control_characters_is_refused(url: str) -> None:
    """redis.url is refused without being quoted (it may hold a password)."""
    assert "redis.url: must not contain" in refusal(redis={"url": url})


@pytest.mark.parametrize(
    ("section", "values"),
    [
        ("redis", {"key_prefix": "tc\ud800:"}),
        ("redis", {"topic": "a\nb"}),
        ("verify", {"path": "/v/\x00"}),
        ("discovery", {"fallback_instances": {"portalService": ["http://a\x00"]}}),
        ("nacos", {"service_names": {"portalService\n": "x"}}),
    ],
)
def test_names_paths_and_keys_must_be_usable_text(section: str, values: dict[str, Any]) -> None:
    """Lone surrogates and control characters in any text setting are refused, naming it."""
    message = refusal(**{section: values})
    assert f"{section}.{next(iter(values))}: " in message


def test_a_store_path_with_a_nul_is_refused() -> None:
    """The store path is a file name; NUL cannot be in one."""
    assert "store: must not contain control characters" in refusal(store="a\x00b.db")


def settings_with(url: str, token: str | None = None, password: str | None = None) -> Settings:
    """Settings with the given Redis URL and secrets."""
    return Settings(
        redis=RedisSettings(url=Secret(url)),
        asbc=AsbcSettings(token=Secret(token) if token is not None else None),
        nacos=NacosSettings(password=Secret(password) if password is not None else None),
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://ops:hunter2@127.0.0.1:6390/0", "redis://ops:***@127.0.0.1:6390/0"),
        ("redis://:hunter2@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://hunter2@h/0", "redis://***@h/0"),
        ("redis://h/0?password=hunter2", "redis://h/0?password=***"),
        ("redis://h/0?db=1&Password=hun%40ter2&x=1", "redis://h/0?db=1&Password=***&x=1"),
        ("rediss://h/0?auth=hunter2;pass=hunter2", "rediss://h/0?auth=***;pass=***"),
        ("redis://h/0?token=hunter2#frag", "redis://h/0?token=***"),
        ("redis://:hun/ter2@h/0", "redis://:***@h/0"),
        ("redis://:hun?ter2@h/0", "redis://:***@h/0"),
        ("unix:///run/redis.sock?password=hunter2", "unix:///run/redis.sock?password=***"),
        ("redis://h:6379/0?username=ops", "redis://h:6379/0?username=ops"),
        ("redis://:hunter2", "redis://:***"),  # the host forgotten: no port, a password
        ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
    ],
)
def test_masked_hides_every_form_of_the_redis_password(url: str, shown: str) -> None:
    """Userinfo passwords and password-like query parameters are masked; the rest is kept."""
    assert settings_with(url).masked()["redis"]["url"] == shown


def test_masked_hides_token_and_password_everywhere() -> None:
    """The token and the Nacos password are masked, also where they appear in other values."""
    loaded = settings_with("redis://:pw-redis@h/0", token="tok-secret", password="pw-nacos")
    loaded = loaded.replace(nacos=loaded.nacos.replace(server_addr="u:pw-nacos@nacos:8848"))
    data = loaded.masked()
    text = repr(data)
    for secret in ("pw-redis", "tok-secret", "pw-nacos"):
        assert secret not in text
    assert data["asbc"]["token"] == "**********"
    assert data["nacos"]["password"] == "**********"
    assert data["nacos"]["server_addr"] == "u:***@nacos:8848"


def test_secret_values_lists_every_secret_in_every_form() -> None:
    """Userinfo and query passwords raw and decoded, the token and the Nacos password."""
    loaded = settings_with(
        "redis://ops:p%40ss@h/0?password=q%2Bw+x", token="tok", password="nacos-pw"
    )
    assert set(loaded.secret_values()) == {
        "p%40ss",
        "p@ss",
        "q%2Bw+x",
        "q+w+x",
        "q+w x",
        "tok",
        "nacos-pw",
    }


def test_secret_values_is_empty_without_secrets() -> None:
    """The defaults hold no secret."""
    assert Settings().secret_values() == ()


def test_a_secret_never_appears_in_a_settings_error(tmp_path: Path) -> None:
    """Even a key that happens to repeat a secret is masked in the message."""
    path = settings_file(
        tmp_path,
        "redis: {url: 'redis://:hunter2@h/0'}\nasbc: {token: tok-42}\n"
        "nacos: {password: sekrit, sekrit: 1}\nengine: {hunter2: 1, tok-42: 2}\n",
    )
    message = refusal(path)
    for secret in ("hunter2", "tok-42", "sekrit"):
        assert secret not in message
    assert "nacos.***: unknown setting" in message


# --- the model itself ------------------------------------------------------------------------


def test_a_secret_shows_itself_hidden_and_compares_by_value() -> None:
    """repr and str never show the text; get_secret_value does; equal texts are equal."""
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in repr(RedisSettings(url=Secret("redis://:hunter2@h/0")))
    assert secret.get_secret_value() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != Secret("hunter3")
    assert len({secret, Secret("hunter2")}) == 1


def test_sections_built_directly_keep_their_rules() -> None:
    """A section made in code runs the same rules as one loaded: no bad URL slips in."""
    with pytest.raises(ValueError, match="url: must not contain spaces"):
        RedisSettings(url=Secret("redis://h /0"))
    with pytest.raises(ValueError, match="token: must be visible ASCII"):
        AsbcSettings(token=Secret("tok\n"))
    changed = NacosSettings().replace(server_addr="nacos:8848")
    assert changed.server_addr == "nacos:8848"
    with pytest.raises(ValueError, match="password: "):
        NacosSettings().replace(password=Secret("a\x00b"))


def test_every_problem_of_a_section_is_named_at_once() -> None:
    """Two bad values in one section are both reported, not the first alone."""
    message = refusal(engine={"max_concurrency": 0, "lease_ttl": "soon", "nope": 1})
    assert "engine.nope: unknown setting" in message
    assert "engine.max_concurrency: must be at least 1" in message
    assert "engine.lease_ttl: expected a number, got a string" in message
    message = refusal(engine={"max_concurrency": 0, "lease_ttl": "soon"})
    assert "engine.max_concurrency: must be at least 1" in message
    assert "engine.lease_ttl: expected a number, got a string" in message


def test_the_source_file_is_kept_beside_the_values(tmp_path: Path) -> None:
    """Where settings came from is known, but neither changes equality nor is dumped."""
    path = settings_file(tmp_path, "{}\n")
    loaded = load_settings(path)
    assert loaded.source_file == path.absolute()
    assert load_settings().source_file is None
    assert loaded == Settings()
    assert "source_file" not in loaded.masked()
    assert "_source_file" not in repr(loaded)


def test_loading_settings_imports_neither_pydantic_nor_yaml() -> None:
    """Every command loads settings first: without a file that costs no pydantic, no YAML."""
    probe = (
        "import sys\nfrom switchover.settings import load_settings\nload_settings()\n"
        "print(' '.join(m for m in ('pydantic', 'pydantic_settings', 'yaml') if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SWITCHOVER_")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    assert done.stdout.split() == []


def test_a_misspelt_name_suggests_the_setting_meant() -> None:
    """A near miss of a section or a field says which one was probably meant."""
    assert "engin: unknown setting (did you mean engine?)" in refusal(engin={})
    message = refusal(engine={"max_concurency": 3})
    assert "engine.max_concurency: unknown setting (did you mean max_concurrency?)" in message
    assert "(did you mean" not in refusal(engine={"zzz": 1})


def test_a_bad_entry_of_a_mapping_is_named_by_its_key() -> None:
    """In a mapping setting, each bad entry is named: the key, and the item within it."""
    message = refusal(
        discovery={"fallback_instances": {"portalService": "http://a", "obService": [1]}}
    )
    assert "discovery.fallback_instances.portalService: expected a list, got a string" in message
    assert "discovery.fallback_instances.obService[0]: expected a string" in message


def test_nan_is_refused_as_not_finite() -> None:
    """NaN fails every bound; it is named for what it is, not for the bound."""
    assert "retry.jitter: must be a finite number" in refusal(retry={"jitter": float("nan")})
