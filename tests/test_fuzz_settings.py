"""Fuzzing of settings input: whatever the file and the variables, Settings or a SettingsError.

Files hold real section and field names with values of every type, deep nesting and alias
fan-outs, serialised as YAML and mutated, or random bytes; variables hold random text. A
refusal is one line that never quotes the secret planted among the values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from unittest import mock

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchover.errors import SettingsError
from switchover.settings import Settings, load_settings
from tests.domain.test_fuzz_inputs import NASTY, mutated, texts

FUZZ = settings(
    max_examples=60,
    deadline=2000,  # ms per example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Built at run time: Hypothesis feeds string literals of the code it sees to text strategies,
# and the planted secret must only ever appear where the test puts it.
SECRET = "-".join(["S3cr3t", "Planted", str(9431 * 3)])

FIELDS: dict[str, list[str]] = {
    info.name: list(info.type.__struct_fields__)
    for info in msgspec.structs.fields(Settings)
    if isinstance(info.type, type) and hasattr(info.type, "__struct_fields__")
}
VARIABLES = ["SWITCHOVER_STORE"] + [
    f"SWITCHOVER_{section.upper()}" + suffix
    for section, names in FIELDS.items()
    for suffix in ["", *(f"__{name.upper()}" for name in names)]
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    texts,
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(texts, children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def documents(draw: st.DrawFn) -> Any:
    """Settings data: real sections and fields with values of any type; sometimes anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(trees)
    data: dict[Any, Any] = {}
    for section in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=4, unique=True)):
        names = st.sampled_from(FIELDS[section]) | texts
        data[section] = draw(st.dictionaries(names, trees, max_size=4)) or draw(trees)
    if draw(st.booleans()):
        # A secret in place, so that any message quoting it would show.
        data["asbc"] = {"token": SECRET}
        data["redis"] = {"url": f"redis://:{SECRET}@h/0?password={SECRET}"}
    data.update(draw(st.dictionaries(texts, trees, max_size=2)))
    return data


def dumped(data: object) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except (yaml.YAMLError, UnicodeError):
        return repr(data)


@st.composite
def file_contents(draw: st.DrawFn) -> bytes:
    """Bytes of a settings file: structured YAML (maybe mutated), nasty fragments, or noise."""
    kind = draw(st.sampled_from(["yaml", "yaml", "mutated", "nasty", "deep", "aliases", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "nasty":
        text = "".join(draw(st.lists(st.sampled_from(NASTY), max_size=6)))
    elif kind == "deep":
        text = "engine: " + "[" * draw(st.integers(1, 5000))
    elif kind == "aliases":
        fan_out, levels = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        lines = ["x0: &x0 [1]"] + [
            f"x{n}: &x{n} [{', '.join([f'*x{n - 1}'] * fan_out)}]" for n in range(1, levels + 1)
        ]
        text = "\n".join([*lines, f"engine: *x{levels}", ""])
    else:
        text = dumped(draw(documents()))
        if kind == "mutated":
            text = draw(mutated(text))
    return text.encode("utf-8", "surrogatepass")


variable_values = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=30
) | st.sampled_from(['{"a": 1}', "{bad", "[1, 2]", "0", "-1", "nan", "inf", ""])
# The planted secret goes only where secrets belong; elsewhere it would be a plain value.
secret_variables = st.fixed_dictionaries(
    {},
    optional={
        "SWITCHOVER_ASBC__TOKEN": st.sampled_from([SECRET, SECRET + "\n", f" {SECRET}"]),
        "SWITCHOVER_NACOS__PASSWORD": st.sampled_from([SECRET, SECRET + "\r\n"]),
        "SWITCHOVER_REDIS__URL": st.sampled_from(
            [f"redis://u:{SECRET}@h/0", f"redis://h/0?password={SECRET}", f"redis://:{SECRET}"]
        ),
    },
)
environments = st.builds(
    lambda plain, secret: {**plain, **secret},
    st.dictionaries(st.sampled_from(VARIABLES), variable_values, max_size=3),
    secret_variables,
)


def load(path: Path | None, environment: dict[str, str]) -> None:
    """load_settings under ``environment`` alone; anything but the two outcomes fails."""
    kept = {k: v for k, v in os.environ.items() if not k.upper().startswith("SWITCHOVER_")}
    with mock.patch.dict(os.environ, {**kept, **environment}, clear=True):
        try:
            loaded = load_settings(path)
        except SettingsError as exc:
            message = str(exc)
            assert "\n" not in message
            assert SECRET not in message
            message.encode("utf-8")
        else:
            assert isinstance(loaded, Settings)
            assert SECRET not in repr(loaded.masked())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for the fuzzed settings files (module-scoped: examples share it)."""
    return tmp_path_factory.mktemp("fuzz-settings")


@FUZZ
@given(content=file_contents(), environment=environments | st.just({}))
def test_settings_files_and_variables(
    workdir: Path, content: bytes, environment: dict[str, str]
) -> None:
    """Any settings file with any SWITCHOVER_* variables loads or is one clear refusal."""
    path = workdir / "settings.yaml"
    path.write_bytes(content)
    load(path, environment)


@FUZZ
@given(environment=environments)
def test_variables_alone(environment: dict[str, str]) -> None:
    """Any SWITCHOVER_* variables without a file."""
    load(None, environment)
