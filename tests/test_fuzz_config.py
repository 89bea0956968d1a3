"""Property-based fuzzing of the config surface: whatever `--set` pairs, TOML files, preset
names, environment ids or argument lists come in, the only exception is a one-line
DeepQError, and every config that is accepted passes ``config.check`` with finite floats.

Reproducible: derandomized, no example database. Nothing here trains."""

import contextlib
import dataclasses
import io
import math
import typing
from datetime import date, datetime, time

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deepq import config, envs
from deepq.cli import build_parser, main
from deepq.errors import DeepQError
from deepq.presets import PRESETS

_FUZZ = settings(deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def fuzz(examples: int):
    """Hypothesis settings: ``examples`` examples, the same ones on every run."""
    return settings(_FUZZ, max_examples=examples)

PRESET_NAMES = sorted(PRESETS)
REAL_KEYS = sorted({f.name for p in PRESETS.values() for f in dataclasses.fields(p.config)
                    if not f.metadata.get("group")}
                   | {f"speed.{f.name}" for f in dataclasses.fields(PRESETS["pong"].config.speed)} | {"speed"})

keys = st.one_of(st.sampled_from(REAL_KEYS), st.sampled_from(REAL_KEYS).map(str.upper),
                 st.text(max_size=12))
edge_ints = st.sampled_from([2**31, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63) - 1])
huge_ints = st.one_of(st.integers(), st.integers(min_value=-(10**400), max_value=10**400), edge_ints)
long_ints = st.one_of(st.integers(), st.integers(min_value=-(10**30), max_value=10**30), edge_ints)
floats = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, -1e308,
                                                 5e-324, 1.5, 0.0, 1.0]))
number_words = st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e308", "1e400",
                                "-0.0", "0", "1", "-1", "1_000", "1e6", "0x10", "none", "null",
                                "true", "False", "yes", "", " ", "[]", "[1, 2]", "(64,)", "9" * 5000])


def as_text(value) -> str:
    """How a value reads in a `--set key=value` pair."""
    if isinstance(value, list):
        return ",".join(as_text(v) for v in value)
    return str(value) if not isinstance(value, int) or abs(value) < 10**4000 else "9" * 4400


CHOICES = sorted({c for p in PRESETS.values() for f in dataclasses.fields(p.config) + dataclasses.fields(p.config.speed)
                  for c in f.metadata.get("choices") or ()})
# values near the valid ones, so that many overrides are accepted and their configs checked
plausible = st.one_of(st.floats(0, 1).map(repr), st.integers(0, 2000).map(str),
                      st.sampled_from(CHOICES), st.booleans().map(str),
                      st.lists(st.integers(1, 64), min_size=1, max_size=3).map(as_text))
set_values = st.one_of(
    plausible, st.text(max_size=20), number_words, huge_ints.map(as_text), floats.map(as_text),
    st.booleans().map(as_text), st.lists(st.one_of(huge_ints, floats, st.text(max_size=5)),
                                         max_size=4).map(as_text),
    st.lists(st.integers(-3, 300), max_size=4).map(lambda v: "[" + ", ".join(map(str, v)) + "]"))


def assert_sane(cfg, cls: type) -> None:
    """An accepted config: of its class, checked, finite, in range, of the declared types."""
    assert type(cfg) is cls
    config.check(cfg)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.metadata.get("group"):  # a nested group of settings, checked the same way
            assert_sane(value, hints[f.name])
            continue
        base, optional = config._split_optional(hints[f.name])
        if value is None:
            assert optional, f.name
            continue
        items = value if isinstance(value, tuple) else (value,)
        if typing.get_origin(base) is tuple:  # a list setting: check each item as its type
            base = typing.get_args(base)[0]
        for v in items:
            if base is float:
                assert isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v), f.name
            elif base is bool:
                assert isinstance(v, bool), f.name
            elif base is str:
                assert isinstance(v, str), f.name
            else:  # int
                assert isinstance(v, int) and not isinstance(v, bool) and v <= config.INT_MAX, f.name


def assert_one_line(e: DeepQError) -> None:
    text = str(e)
    assert text and len(text.splitlines()) == 1 and len(text) < 1000, text


def apply(preset: str, values: dict) -> None:
    """override ``preset`` with ``values``: a checked config, or a one-line DeepQError."""
    base = PRESETS[preset].config
    try:
        cfg = config.override(base, values)
    except DeepQError as e:
        assert_one_line(e)
        event("config refused")  # events: --hypothesis-show-statistics counts them
        return
    event("config accepted")
    assert_sane(cfg, type(base))


@fuzz(1500)
@given(st.sampled_from(PRESET_NAMES), st.lists(st.tuples(keys, set_values), max_size=4))
def test_set_overrides(preset, pairs):
    try:
        values = config.parse_set([f"{k}={v}" for k, v in pairs])
    except DeepQError as e:
        assert_one_line(e)
        return
    apply(preset, values)


@fuzz(1000)
@given(st.sampled_from(PRESET_NAMES), st.sampled_from(REAL_KEYS), set_values)
def test_set_one_real_key(preset, key, value):
    """Every value for every real key (the test above mostly stops at the first bad pair)."""
    apply(preset, config.parse_set([f"{key}={value}"]))


python_values = st.recursive(
    st.one_of(st.none(), st.booleans(), huge_ints, floats, st.text(max_size=8), st.binary(max_size=4),
              st.complex_numbers(), st.sampled_from([(), [], {}, object(), float, math])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
                            st.dictionaries(st.text(max_size=4), inner, max_size=2)),
    max_leaves=6)


@fuzz(800)
@given(st.sampled_from(PRESET_NAMES), st.data())
def test_python_values(preset, data):
    """A config built in Python with any value in a field: check() refuses it in one line
    or it is sane (what ``DQN(DQNConfig(...))`` meets first)."""
    base = PRESETS[preset].config
    name = data.draw(st.sampled_from([f.name for f in dataclasses.fields(base)]))
    cfg = dataclasses.replace(base, **{name: data.draw(python_values)})
    try:
        config.check(cfg)
    except DeepQError as e:
        assert_one_line(e)
        event("config refused")
        return
    event("config accepted")
    assert_sane(cfg, type(base))


# TOML documents: built from values of any TOML type, tables included, then written out.
toml_scalars = st.one_of(huge_ints, floats, st.booleans(),
                         st.text(max_size=10), st.dates(), st.datetimes(), st.times())
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)


def toml_string(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else "inf" if v == math.inf else "-inf" if v == -math.inf else repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, (date, datetime, time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_document(top: dict, tables: dict) -> str:
    lines = [f"{toml_string(k)} = {toml_value(v)}" for k, v in top.items()]
    for name, body in tables.items():
        if name in top:
            continue
        lines.append(f"[{toml_string(name)}]")
        lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def toml_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "config.toml"


def load_and_apply(path, preset: str) -> None:
    try:
        values = config.load_toml(path)
    except DeepQError as e:
        assert_one_line(e)
        event("file refused")
        return
    apply(preset, values)


@fuzz(600)
@given(preset=st.sampled_from(PRESET_NAMES),
       top=st.dictionaries(keys, toml_values, max_size=5),
       tables=st.dictionaries(keys, st.dictionaries(keys, toml_values, max_size=3), max_size=2))
def test_toml_documents(toml_file, preset, top, tables):
    text = toml_document(top, tables)
    toml_file.write_text(text, encoding="utf-8")
    load_and_apply(toml_file, preset)


toml_fragments = st.one_of(
    st.sampled_from(["=", " = ", "\n", "[", "]", "{", "}", ",", '"', "'", "#", ".", "[[", "]]",
                     "nan", "inf", "-inf", "+inf", "1e999", "0x10", "0o7", "0b1", "1_000", "true",
                     "1979-05-27", "07:32:00", '"""', "'''", "\\", "\\u00e9", "\t", "\r\n"]),
    st.sampled_from(REAL_KEYS), st.text(max_size=6), st.integers().map(str), st.floats().map(repr))


@fuzz(600)
@given(preset=st.sampled_from(PRESET_NAMES),
       text=st.one_of(st.text(max_size=80), st.lists(toml_fragments, max_size=25).map("".join)))
def test_toml_text(toml_file, preset, text):
    toml_file.write_text(text, encoding="utf-8")
    load_and_apply(toml_file, preset)


@fuzz(300)
@given(st.binary(max_size=64))
def test_toml_bytes(toml_file, data):
    toml_file.write_bytes(data)
    load_and_apply(toml_file, "cartpole")


@fuzz(400)
@given(st.one_of(st.text(max_size=40), st.sampled_from(REAL_KEYS + ["CartPole-v1", "ALE/Pong-v5"])))
def test_environment_ids(env_id):
    try:
        assert envs.is_atari(env_id) in (True, False)
    except DeepQError as e:
        assert_one_line(e)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def assert_cli_error(rc: int, err: str) -> None:
    lines = err.splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("deepq: error: "), err


@fuzz(200)
@given(st.one_of(st.sampled_from(PRESET_NAMES), st.text(max_size=20)))
def test_presets_show(name):
    rc, out, err = run_cli(["presets", "--show", name])
    if rc == 0 and name == "":  # `--show ""` lists the presets, as plain `presets` does
        assert out.split()[0] == next(iter(PRESETS)) and not err
    elif rc == 0:
        assert name in PRESETS and out.startswith(f"{name}: ") and not err
    else:
        assert_cli_error(rc, err)


cli_tokens = st.one_of(
    st.sampled_from(["train", "evaluate", "plot", "compare", "presets", "cartpole", "pong",
                     "--steps", "--seed", "--run-dir", "--set", "--config", "--resume",
                     "--no-progress", "--episodes", "--eps", "--video", "--out", "--band",
                     "--threshold", "--show", "std", "--curve", "train", "-1", "0", "1e6", "nan", "--", "-", "=",
                     "lr=1", "--steps=0", "--se", "--st"]),
    st.text(max_size=8), long_ints.map(str))


@fuzz(800)
@given(st.lists(cli_tokens, max_size=8))
def test_argument_parsing(argv):
    """Parsing only (a parse that succeeds could start training): a Namespace, a one-line
    DeepQError, or argparse's help (--help, or a prefix of it) and exit status 0."""
    parser = build_parser()
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except DeepQError as e:
        assert_one_line(e)
    except SystemExit as e:
        assert e.code == 0 and out.getvalue().startswith("usage: ")
    else:
        assert callable(args.func)
    assert not err.getvalue()


@pytest.fixture(scope="module")
def taken(tmp_path_factory):
    """A regular file as --run-dir: every train command below stops before training."""
    f = tmp_path_factory.mktemp("fuzz") / "taken"
    f.write_text("not a run directory")
    return f


@fuzz(200)
@given(target=st.one_of(st.sampled_from(PRESET_NAMES), st.sampled_from(["CartPole-v1", "Acrobot-v1"])),
       pairs=st.lists(st.tuples(keys, set_values), max_size=3),
       seed=st.one_of(st.none(), long_ints.map(str), st.text(max_size=5)))
def test_train_command_line(taken, target, pairs, seed):
    argv = ["train", target, "--no-progress"]
    for k, v in pairs:
        argv += ["--set", f"{k}={v}"]
    if seed is not None:
        argv += ["--seed", seed]
    rc, _, err = run_cli([*argv, "--run-dir", str(taken)])
    assert_cli_error(rc, err)
