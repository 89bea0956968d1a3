"""Atomic checkpoints that never unpickle.

A checkpoint is a directory ``checkpoints/step_<N>/`` (``step_<N>.<R>`` when step N
was saved before: a resumed run's first save, or the final save right after a
periodic one) holding
  tensors.safetensors   network weights and optimizer tensors
  arrays/<name>.npy     replay storage (loaded with allow_pickle=False)
  state.json            counters, config, RNG states, optimizer hyperparameters, and
                        the size and SHA-256 of every other file
It is written under a temporary name and renamed to a name no other checkpoint has,
then ``checkpoints/latest`` (a one-line text file) is replaced atomically, and only
then are older checkpoints removed. A checkpoint is never replaced in place, so a
crash at any moment leaves ``latest`` naming a whole checkpoint.

One process writes a checkpoints directory at a time: a save removes what an
aborted save left behind (``.tmp-*`` and ``.del-*`` directories).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from deepq.errors import DeepQError, DeepQWarning

FORMAT = "deepq-checkpoint"
VERSION = 2  # 2: the speed settings became a nested group (2026-12-05)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def optimizer_to_flat(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state_dict into tensors and JSON-able values."""
    tensors, values = {}, {}
    for pid, pstate in state["state"].items():
        for k, v in pstate.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().clone().contiguous()
            else:
                values[f"{pid}.{k}"] = v
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()}
              for g in state["param_groups"]]
    return tensors, {"values": values, "param_groups": groups}


def optimizer_from_flat(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, v in list(tensors.items()) + list(meta["values"].items()):
        pid, _, name = key.partition(".")
        state.setdefault(int(pid), {})[name] = v
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


_NAME = re.compile(r"step_(\d{10})(?:\.(\d+))?")
_SHA = re.compile(r"[0-9a-f]{64}")


def _order(name: str) -> tuple[int, int] | None:
    """(step, revision) of a checkpoint directory name, None for anything else."""
    m = _NAME.fullmatch(name)
    return (int(m[1]), int(m[2] or 0)) if m else None


def _checkpoints(root: Path) -> list[Path]:
    """The checkpoint directories in ``root``, oldest first."""
    found = [p for p in root.iterdir() if p.is_dir() and _order(p.name) is not None]
    return sorted(found, key=lambda p: _order(p.name))


def _remove(path: Path) -> None:
    """Delete a directory so that no half-deleted one ever carries a checkpoint name."""
    doomed = path.with_name(f".del-{path.name}")
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _new_name(root: Path, step: int) -> str:
    base = f"step_{step:010d}"
    taken = {_order(p.name)[1] for p in _checkpoints(root) if _order(p.name)[0] == step}
    return base if not taken else f"{base}.{max(taken) + 1}"


def save(root: Path, step: int, tensors: dict[str, torch.Tensor], arrays: dict[str, np.ndarray],
         state: dict[str, Any], keep: int = 1) -> Path:
    """Write a checkpoint of ``step`` into ``root`` atomically and keep the newest ``keep``.

    File-system faults (disk full, read-only, permission denied) are a DeepQError; the
    checkpoint ``latest`` named before stays whole and named."""
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise DeepQError(f"not saving step {step}: non-finite values in {', '.join(bad[:3])}"
                         f"{' …' if len(bad) > 3 else ''}; the previous checkpoint is kept")
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".tmp-*"):  # aborted saves (each a full checkpoint)
            shutil.rmtree(stale, ignore_errors=True)
        for stale in root.glob(".del-*"):
            shutil.rmtree(stale, ignore_errors=True)
        name = _new_name(root, step)
        tmp = root / f".tmp-{name}"
        try:
            _write(tmp, step, tensors, arrays, state)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = root / name
        os.rename(tmp, final)
        latest_tmp = root / ".latest.tmp"
        with open(latest_tmp, "w") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(latest_tmp, root / "latest")
        _fsync_dir(root)
        # keep ``final`` and the keep − 1 newest before it; one ordered after it is a save
        # that a killed process finished but never named ``latest`` (this run resumed from
        # an earlier checkpoint), from a history the run no longer follows
        older = [p for p in _checkpoints(root) if _order(p.name) < _order(final.name)]
        kept = set(older[max(0, len(older) - (keep - 1)):]) if keep > 1 else set()
        for old in _checkpoints(root):
            if old != final and old not in kept:
                _remove(old)
    except OSError as e:
        what = "disk full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        raise DeepQError(f"cannot write checkpoint of step {step} in {root}: {what}"
                         f"{f' ({e.filename})' if e.filename else ''}") from None
    return final


def _write(tmp: Path, step: int, tensors: dict[str, torch.Tensor], arrays: dict[str, np.ndarray],
           state: dict[str, Any]) -> None:
    (tmp / "arrays").mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / "tensors.safetensors"))
    for key, arr in arrays.items():
        np.save(tmp / "arrays" / f"{key}.npy", np.ascontiguousarray(arr), allow_pickle=False)
    files = {}
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())
        files[path.relative_to(tmp).as_posix()] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    doc = {"format": FORMAT, "version": VERSION, "step": step, "files": files, **state}
    with open(tmp / "state.json", "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(tmp / "arrays")
    _fsync_dir(tmp)


def resolve(path: str | Path) -> Path:
    """A run directory, its checkpoints directory, or one checkpoint → a checkpoint dir."""
    p = Path(path)
    if not p.exists():
        raise DeepQError(f"no such run directory or checkpoint: {p}")
    if (p / "state.json").is_file():
        return p
    for root in (p / "checkpoints", p):
        latest = root / "latest"
        if latest.is_file():
            try:
                name = latest.read_text().strip()
            except (OSError, UnicodeDecodeError):
                raise DeepQError(f"{latest} is unreadable or not text") from None
            if _order(name) is None:  # only a sibling checkpoint, never a path elsewhere
                raise DeepQError(f"{latest} names {name[:60]!r}, which is not a checkpoint name")
            target = root / name
            if (target / "state.json").is_file():
                return target
            raise DeepQError(f"{latest} points at {target}, which is not a checkpoint")
    if (p / "metrics.csv").is_file() or (p / "config.json").is_file():
        raise DeepQError(f"{p} holds a run that stopped before its first checkpoint: nothing to "
                         "resume; start it again with the same --run-dir (its files are kept aside)")
    raise DeepQError(f"no checkpoint found in {p} (expected checkpoints/latest or state.json)")


# state.json's envelope, checked before any other file is read: key → type, or a nested
# schema for a dict. The algorithm's own keys are checked by the caller (``schema``).
ENVELOPE = {"format": str, "version": int, "step": int, "files": dict}


def check_schema(doc: Any, schema: dict[str, Any], where: str) -> None:
    """Raise a DeepQError naming the first key of ``doc`` missing or of the wrong type.

    A schema maps each key to a type, a tuple of types, or a nested schema; a key
    ending in "?" may be absent."""
    if not isinstance(doc, dict):
        raise DeepQError(f"{where} is not an object")
    for key, kind in schema.items():
        optional, key = key.endswith("?"), key.rstrip("?")
        if key not in doc:
            if optional:
                continue
            raise DeepQError(f"{where} has no '{key}'")
        value = doc[key]
        if isinstance(kind, dict):
            check_schema(value, kind, f"{where}['{key}']")
            continue
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = any(isinstance(value, k) and not (isinstance(value, bool) and k in (int, float))
                 for k in kinds if k is not None) or (None in kinds and value is None)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            names = " or ".join("null" if k is None else k.__name__ for k in kinds)
            raise DeepQError(f"{where}['{key}'] should be {names}, not {type(value).__name__}")


def _check_files(ckpt: Path, files: dict[str, Any]) -> None:
    where = f"{ckpt / 'state.json'}"
    for rel, info in files.items():
        check_schema(info, {"bytes": int, "sha256": str}, f"{where} files['{rel}']")
        parts = Path(rel).parts
        if (Path(rel).is_absolute() or ".." in parts or not parts
                or not (rel == "tensors.safetensors" or (len(parts) == 2 and parts[0] == "arrays"
                                                        and rel.endswith(".npy")))):
            raise DeepQError(f"{where} lists '{rel[:80]}', which is not a checkpoint file name")
        if not _SHA.fullmatch(info["sha256"]) or info["bytes"] < 0:
            raise DeepQError(f"{where} files['{rel}'] has a malformed size or SHA-256")
    if "tensors.safetensors" not in files:
        raise DeepQError(f"{where} does not list tensors.safetensors")


def _foreign(ckpt: Path, files: dict[str, Any]) -> list[str]:
    """Files in the checkpoint that deepq did not write (they are never read)."""
    known = set(files) | {"state.json"}
    return sorted(p.relative_to(ckpt).as_posix() for p in ckpt.rglob("*")
                  if p.is_file() and p.relative_to(ckpt).as_posix() not in known)


def load(path: str | Path, verify: bool = True, arrays: bool = True, schema: dict[str, Any] | None = None
         ) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint → (tensors, arrays, state). Any damage is a DeepQError.

    ``arrays=False`` skips reading (and hashing) the replay arrays: for evaluation,
    where a 1M-transition replay would cost 7 GB of memory and a minute of I/O.
    ``schema`` (see ``check_schema``) is checked on state.json before any other file
    is opened. Only the files state.json lists are read, and only inside the
    checkpoint; others are named in a ``DeepQWarning``. Non-finite floats are refused.
    """
    ckpt = resolve(path)
    try:
        doc = json.loads((ckpt / "state.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise DeepQError(f"{ckpt / 'state.json'} is truncated or not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DeepQError(f"{ckpt} is not a deepq checkpoint")
    if doc.get("version") != VERSION:
        raise DeepQError(f"{ckpt} has checkpoint version {doc.get('version')}; this deepq reads {VERSION}")
    check_schema(doc, ENVELOPE | (schema or {}), str(ckpt / "state.json"))
    _check_files(ckpt, doc["files"])
    for rel, info in doc["files"].items():
        if not arrays and rel.startswith("arrays/"):
            continue
        f = ckpt / rel
        if not f.is_file() or f.is_symlink():
            raise DeepQError(f"checkpoint file missing: {f}")
        if f.stat().st_size != info["bytes"]:
            raise DeepQError(f"checkpoint file {f} is truncated ({f.stat().st_size} of {info['bytes']} bytes)")
        if verify and _sha256(f) != info["sha256"]:
            raise DeepQError(f"checkpoint file {f} is corrupt (SHA-256 mismatch)")
    foreign = _foreign(ckpt, doc["files"])
    if foreign:
        warnings.warn(f"{ckpt} holds files deepq did not write (not read): {', '.join(foreign[:5])}"
                      f"{' …' if len(foreign) > 5 else ''}", DeepQWarning, stacklevel=2)
    try:
        tensors = load_file(str(ckpt / "tensors.safetensors"))
    except (SafetensorError, OSError) as e:
        raise DeepQError(f"cannot read {ckpt / 'tensors.safetensors'}: {e}") from None
    for key, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise DeepQError(f"checkpoint {ckpt} holds non-finite values in '{key}'")
    loaded = {}
    for rel in sorted(doc["files"]) if arrays else ():
        if not rel.startswith("arrays/"):
            continue
        f = ckpt / rel
        try:
            loaded[f.stem] = np.load(f, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise DeepQError(f"cannot read {f}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        a = loaded[f.stem]
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise DeepQError(f"checkpoint {ckpt} holds non-finite values in replay array '{f.stem}'")
    return tensors, loaded, doc
