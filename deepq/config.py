"""Typed, documented, validated configuration fields and overrides.

An algorithm declares its config as a frozen dataclass whose fields are made with
``param(default, "doc with unit", min=..., choices=...)``: the documentation and the
valid range live once, where the field is declared, and feed ``deepq presets --show``,
``--help`` and the error messages. Overrides come from ``--set key=value`` strings or
a TOML file; an unknown key, a wrong type or an out-of-range value raises a
``DeepQError`` that names the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from deepq.errors import DeepQError


def param(default: Any, doc: str, *, min: float | None = None, max: float | None = None,
          choices: tuple[str, ...] | None = None, min_exclusive: bool = False) -> Any:
    """A config field: default, one-line doc (with its unit), and its valid range."""
    meta = {"doc": doc, "min": min, "max": max, "choices": choices, "min_exclusive": min_exclusive}
    return dataclasses.field(default=default, metadata=meta)


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


def _convert(key: str, raw: Any, tp: Any) -> Any:
    """Turn a TOML value or a ``--set`` string into a value of type ``tp``."""
    base, optional = _split_optional(tp)
    from_string = isinstance(raw, str) and base is not str
    if optional and (raw is None or (from_string and raw.strip().lower() in ("none", "null", ""))):
        return None
    bad = DeepQError(f"config key '{key}' expects {_type_name(tp)}, got {raw!r}")
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
            try:
                value = float(raw.replace("_", ""))
            except ValueError:
                raise bad from None
            if value.is_integer():
                return int(value)
        raise bad
    if base is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if from_string:
            try:
                return float(raw)
            except ValueError:
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


def check(cfg: Any) -> None:
    """Raise a DeepQError naming the first field whose value is out of its range."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        meta = f.metadata
        if value is None:
            continue
        items = value if isinstance(value, tuple) else (value,)
        for v in items:
            if meta.get("choices") and v not in meta["choices"]:
                raise DeepQError(f"config key '{f.name}' must be one of "
                                 f"{', '.join(meta['choices'])}; got {v!r}")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                lo, hi = meta.get("min"), meta.get("max")
                if lo is not None and (v < lo or (meta.get("min_exclusive") and v == lo)):
                    op = ">" if meta.get("min_exclusive") else ">="
                    raise DeepQError(f"config key '{f.name}' must be {op} {lo}; got {v}")
                if hi is not None and v > hi:
                    raise DeepQError(f"config key '{f.name}' must be <= {hi}; got {v}")


def override(cfg: Any, values: dict[str, Any]) -> Any:
    """A copy of ``cfg`` with ``values`` applied (strings or TOML values), validated."""
    hints = _hints(type(cfg))
    names = {f.name for f in dataclasses.fields(cfg)}
    changes = {}
    for key, raw in values.items():
        if key not in names:
            close = [n for n in names if key.replace("-", "_") == n or n.startswith(key[:4])]
            hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
            raise DeepQError(f"unknown config key '{key}'{hint}; "
                             "`deepq presets --show NAME` lists the keys")
        changes[key] = _convert(key, raw, hints[key])
    new = dataclasses.replace(cfg, **changes)
    check(new)
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
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise DeepQError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise DeepQError(f"config file {path} is not valid TOML: {e}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a config saved by ``to_dict`` (validated like any override)."""
    return override(cls(), values)


def describe(cls: type) -> str:
    """One line per field: name, type, default, doc and range."""
    hints = _hints(cls)
    lines = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        rng = ""
        if meta.get("choices"):
            rng = f" [{' | '.join(meta['choices'])}]"
        elif meta.get("min") is not None or meta.get("max") is not None:
            rng = f" [{meta.get('min', '')}, {meta.get('max') if meta.get('max') is not None else '∞'}]"
        lines.append(f"  {f.name} ({_type_name(hints[f.name])}, default {f.default!r}){rng}: {meta.get('doc', '')}")
    return "\n".join(lines)
