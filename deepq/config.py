"""Typed, documented, validated configuration fields and overrides.

An algorithm declares its config as a frozen dataclass whose fields are made with
``param(default, "doc with unit", min=..., choices=...)``: the documentation and the
valid range live once, where the field is declared, and feed ``deepq presets --show``,
``--help`` and the error messages. Overrides come from ``--set key=value`` strings or
a TOML file; an unknown key, a wrong type, a non-finite number or an out-of-range value
raises a ``DeepQError`` that names the key.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import stat
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from deepq.errors import DeepQError


# The largest integer any int field takes unless it declares its own max: int64, what
# numpy and torch counters hold. The seed goes to random.seed, torch.manual_seed (which takes
# up to 2**64 - 1) and np.random.default_rng([seed, k]) (any size); environment reset seeds
# are drawn from it through a SeedSequence, so they stay below 2**32 whatever it is.
INT_MAX = 2**63 - 1


def param(default: Any, doc: str, *, min: float | None = None, max: float | None = None,
          choices: tuple[str, ...] | None = None, min_exclusive: bool = False) -> Any:
    """A config field: default, one-line doc (with its unit), and its valid range."""
    meta = {"doc": doc, "min": min, "max": max, "choices": choices, "min_exclusive": min_exclusive}
    return dataclasses.field(default=default, metadata=meta)


def group(cls: type, doc: str) -> Any:
    """A nested group of settings (a frozen dataclass of ``param`` fields), set as
    ``--set NAME.key=value`` or in a TOML table ``[NAME]``."""
    return dataclasses.field(default_factory=cls, metadata={"doc": doc, "group": True})


def _is_group(f: dataclasses.Field) -> bool:
    return bool(f.metadata.get("group"))


@functools.cache
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _split_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _type_name(tp: Any) -> str:
    base, optional = _split_optional(tp)
    if typing.get_origin(base) is tuple:
        name = f"list of {typing.get_args(base)[0].__name__}"
    else:
        name = base.__name__
    return f"{name} or none" if optional else name


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages: an override may be
    a megabyte of text, or an int too long for ``repr`` (Python refuses > 4300 digits)."""
    if isinstance(value, int) and value.bit_length() > 192:
        return f"an integer of about {round(value.bit_length() * math.log10(2))} digits"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _convert(key: str, raw: Any, tp: Any) -> Any:
    """Turn a TOML value or a ``--set`` string into a value of type ``tp``."""
    base, optional = _split_optional(tp)
    from_string = isinstance(raw, str) and base is not str
    if optional and (raw is None or (from_string and raw.strip().lower() in ("none", "null", ""))):
        return None
    bad = DeepQError(f"config key '{key}' expects {_type_name(tp)}, got {_show(raw)}")
    if base is bool:
        if isinstance(raw, bool):
            return raw
        if from_string and raw.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return raw.strip().lower() in ("true", "1", "yes", "on")
        raise bad
    if base is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if from_string:
            text = raw.replace("_", "")
            try:
                return int(text)  # exact: "9007199254740993" through a float would lose its last digit
            except ValueError:
                pass
            try:
                value = float(text)  # "1e6", "2.0"
            except ValueError:
                raise bad from None
            if value.is_integer():
                return int(value)
        raise bad
    if base is float:
        try:
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                return float(raw)
            if from_string:
                return float(raw)
        except (ValueError, OverflowError):  # OverflowError: an int beyond the float range
            raise bad from None
        raise bad
    if base is str:
        if isinstance(raw, str):
            return raw
        raise bad
    if typing.get_origin(base) is tuple:
        (elem,) = [a for a in typing.get_args(base) if a is not Ellipsis]
        items = raw
        if from_string:
            text = raw.strip().strip("[]()")
            items = [s for s in (t.strip() for t in text.split(",")) if s]
        if not isinstance(items, (list, tuple)):
            raise bad
        return tuple(_convert(key, x, elem) for x in items)
    raise TypeError(f"unsupported config type {tp} for '{key}'")


def _is_type(value: Any, tp: type) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, tp)


def _check_type(name: str, value: Any, tp: Any) -> None:
    """A DeepQError unless ``value`` is of the field type ``tp``: what ``override`` builds
    always is, but a config made in Python (``DQNConfig(lr="0.1")``) may not be. A bool
    is not an int here, though Python says it is; an int is a float."""
    base, optional = _split_optional(tp)
    if value is None and optional:
        return
    if base in (bool, int, float, str):
        ok = _is_type(value, base)
    elif typing.get_origin(base) is tuple:
        (elem,) = [a for a in typing.get_args(base) if a is not Ellipsis]
        if not isinstance(value, tuple) or not all(_is_type(v, elem) for v in value):
            raise DeepQError(f"config key '{name}' expects a tuple of {elem.__name__}, got {_show(value)}")
        return
    else:
        return  # a type _convert cannot build either; nothing to say about it
    if not ok:
        raise DeepQError(f"config key '{name}' expects {_type_name(tp)}, got {_show(value)}")


def check(cfg: Any, prefix: str = "") -> None:
    """Raise a DeepQError naming the first field whose value is of the wrong type, not a
    finite number, or out of its range."""
    hints = _hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        meta = f.metadata
        if _is_group(f):
            if not isinstance(value, hints[f.name]):
                raise DeepQError(f"config key '{prefix}{f.name}' expects a group of settings, got {_show(value)}")
            check(value, f"{prefix}{f.name}.")
            continue
        name = prefix + f.name
        _check_type(name, value, hints[f.name])
        if value is None:
            continue
        is_float = _split_optional(hints[f.name])[0] is float
        items = value if isinstance(value, tuple) else (value,)
        for v in items:
            if meta.get("choices") and v not in meta["choices"]:
                raise DeepQError(f"config key '{name}' must be one of "
                                 f"{', '.join(meta['choices'])}; got {_show(v)}")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                # NaN needs its own test: every comparison with NaN is False, so NaN passes
                # `v < lo` and `v > hi` (and per_alpha = nan hangs the priority tree's sampling).
                if is_float and not _finite(v):
                    raise DeepQError(f"config key '{name}' must be a finite number; got {_show(v)}")
                lo, hi = meta.get("min"), meta.get("max")
                if hi is None and not is_float:
                    hi = INT_MAX  # an int field (or a tuple of ints)
                if lo is not None and (v < lo or (meta.get("min_exclusive") and v == lo)):
                    op = ">" if meta.get("min_exclusive") else ">="
                    raise DeepQError(f"config key '{name}' must be {op} {lo}; got {_show(v)}")
                if hi is not None and v > hi:
                    bound = "2**63 - 1" if hi == INT_MAX else hi
                    raise DeepQError(f"config key '{name}' must be <= {bound}; got {_show(v)}")


def override(cfg: Any, values: dict[str, Any], prefix: str = "") -> Any:
    """A copy of ``cfg`` with ``values`` applied (strings or TOML values), validated.
    A group's settings are ``"group.key"`` entries or a ``"group"`` dict."""
    hints = _hints(type(cfg))
    groups = {f.name for f in dataclasses.fields(cfg) if _is_group(f)}
    nested: dict[str, dict[str, Any]] = {}
    flat = {}
    for key, raw in values.items():
        head, dot, rest = key.partition(".") if isinstance(key, str) else (key, "", "")
        if head in groups and dot:
            nested.setdefault(head, {})[rest] = raw
        elif key in groups:
            if not isinstance(raw, dict):
                raise DeepQError(f"config key '{prefix}{key}' is a group: set its keys as "
                                 f"{prefix}{key}.NAME=VALUE")
            nested.setdefault(key, {}).update(raw)
        else:
            flat[key] = raw
    changes = {g: override(getattr(cfg, g), v, f"{prefix}{g}.") for g, v in nested.items()}
    names = {f.name for f in dataclasses.fields(cfg)} - groups
    for key, raw in flat.items():
        if key not in names:
            close = [n for n in names if isinstance(key, str) and key
                     and (key.replace("-", "_") == n or n.startswith(key[:4]))]
            hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
            raise DeepQError(f"unknown config key {_show(prefix + key if isinstance(key, str) else key)}"
                             f"{hint}; `deepq presets --show NAME` lists the keys")
        changes[key] = _convert(prefix + key, raw, hints[key])
    new = dataclasses.replace(cfg, **changes)
    check(new, prefix)
    return new


def parse_set(pairs: list[str]) -> dict[str, str]:
    """['lr=3e-4', 'batch_size=64'] → {'lr': '3e-4', 'batch_size': '64'}."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise DeepQError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """The ``key = value`` lines of a TOML file, or a DeepQError saying why not."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DeepQError(f"config file not found: {path}") from None
    except (OSError, ValueError) as e:  # permission denied, a path through a file, a NUL byte
        raise DeepQError(f"cannot read config file {path}: {getattr(e, 'strerror', None) or e}") from None
    if stat.S_ISDIR(mode):
        raise DeepQError(f"config file {path} is a directory")
    # a pipe is fine (`--config <(...)`); a device such as /dev/zero would never end
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise DeepQError(f"config file {path} is not a regular file")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as e:
        raise DeepQError(f"cannot read config file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise DeepQError(f"config file {path} is not UTF-8 text (byte {e.start}: "
                         f"{e.object[e.start:e.start + 1]!r})") from None
    except tomllib.TOMLDecodeError as e:
        raise DeepQError(f"config file {path} is not valid TOML: {e}") from None
    except ValueError as e:  # tomllib turns an integer of > 4300 digits into this
        raise DeepQError(f"config file {path} holds a value Python cannot read: {e}") from None
    except RecursionError:
        raise DeepQError(f"config file {path} nests arrays or tables too deeply") from None
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):  # a group's table, [speed]: one level, no deeper
            for sub, v in value.items():
                if isinstance(v, dict):
                    raise DeepQError(f"config file {path}: {_show(key)}.{_show(sub)} is a table; "
                                     "groups hold only `key = value` lines")
                flat[f"{key}.{sub}"] = v
        else:
            flat[key] = value
    return flat


def to_dict(cfg: Any) -> dict[str, Any]:
    """JSON-able values: tuples as lists, groups as nested dicts."""
    return {f.name: to_dict(v) if _is_group(f) else list(v) if isinstance(v, tuple) else v
            for f in dataclasses.fields(cfg) for v in [getattr(cfg, f.name)]}


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a config saved by ``to_dict`` (validated like any override)."""
    return override(cls(), values)


def describe(cls: type, prefix: str = "") -> str:
    """One line per field: name, type, default, doc and range."""
    hints = _hints(cls)
    lines = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if _is_group(f):
            lines.append(f"  {prefix}{f.name}.*: {meta['doc']}")
            lines.append(describe(hints[f.name], f"{prefix}{f.name}."))
            continue
        rng = ""
        if meta.get("choices"):
            rng = f" [{' | '.join(meta['choices'])}]"
        elif meta.get("min") is not None or meta.get("max") is not None:
            rng = f" [{meta.get('min', '')}, {meta.get('max') if meta.get('max') is not None else '∞'}]"
        lines.append(f"  {prefix}{f.name} ({_type_name(hints[f.name])}, default {f.default!r}){rng}: {meta.get('doc', '')}")
    return "\n".join(lines)
