"""Atomic checkpoints that never unpickle.

A checkpoint is a directory ``checkpoints/step_<N>/`` holding
  tensors.safetensors   network weights, optimizer tensors, torch RNG state
  arrays/<name>.npy     replay storage (loaded with allow_pickle=False)
  state.json            counters, config, RNG states, optimizer hyperparameters, and
                        the size and SHA-256 of every other file
It is written under a temporary name and renamed into place, then
``checkpoints/latest`` (a one-line text file) is replaced atomically, so a crash at
any moment leaves the previous checkpoint whole and ``latest`` pointing at it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from deepq.errors import DeepQError

FORMAT = "deepq-checkpoint"
VERSION = 1


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


def save(root: Path, step: int, tensors: dict[str, torch.Tensor], arrays: dict[str, np.ndarray],
         state: dict[str, Any], keep: int = 1) -> Path:
    """Write checkpoint ``root/step_<step>`` atomically and keep the newest ``keep``."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:010d}"
    final = root / name
    tmp = root / f".tmp-{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "arrays").mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / "tensors.safetensors"))
    for key, arr in arrays.items():
        np.save(tmp / "arrays" / f"{key}.npy", np.ascontiguousarray(arr), allow_pickle=False)
    files = {}
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())
        files[str(path.relative_to(tmp))] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    doc = {"format": FORMAT, "version": VERSION, "step": step, "files": files, **state}
    with open(tmp / "state.json", "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    latest_tmp = root / ".latest.tmp"
    latest_tmp.write_text(name + "\n")
    os.replace(latest_tmp, root / "latest")
    _fsync_dir(root)
    for old in sorted(p for p in root.glob("step_*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


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
            target = root / latest.read_text().strip()
            if (target / "state.json").is_file():
                return target
            raise DeepQError(f"{latest} points at {target}, which is not a checkpoint")
    raise DeepQError(f"no checkpoint found in {p} (expected checkpoints/latest or state.json)")


def load(path: str | Path, verify: bool = True, arrays: bool = True
         ) -> tuple[dict[str, torch.Tensor], dict[str, np.ndarray], dict[str, Any]]:
    """Read a checkpoint → (tensors, arrays, state). Any damage is a DeepQError.

    ``arrays=False`` skips reading (and hashing) the replay arrays: for evaluation,
    where a 1M-transition replay would cost 7 GB of memory and a minute of I/O.
    """
    ckpt = resolve(path)
    try:
        doc = json.loads((ckpt / "state.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DeepQError(f"{ckpt / 'state.json'} is truncated or not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DeepQError(f"{ckpt} is not a deepq checkpoint")
    if doc.get("version") != VERSION:
        raise DeepQError(f"{ckpt} has checkpoint version {doc.get('version')}; this deepq reads {VERSION}")
    for rel, info in doc["files"].items():
        if not arrays and rel.startswith("arrays"):
            continue
        f = ckpt / rel
        if not f.is_file():
            raise DeepQError(f"checkpoint file missing: {f}")
        if f.stat().st_size != info["bytes"]:
            raise DeepQError(f"checkpoint file {f} is truncated ({f.stat().st_size} of {info['bytes']} bytes)")
        if verify and _sha256(f) != info["sha256"]:
            raise DeepQError(f"checkpoint file {f} is corrupt (SHA-256 mismatch)")
    try:
        tensors = load_file(str(ckpt / "tensors.safetensors"))
    except (SafetensorError, OSError) as e:
        raise DeepQError(f"cannot read {ckpt / 'tensors.safetensors'}: {e}") from None
    loaded = {}
    for f in sorted((ckpt / "arrays").glob("*.npy")) if arrays else ():
        try:
            loaded[f.stem] = np.load(f, allow_pickle=False)
        except ValueError as e:
            raise DeepQError(f"cannot read {f}: {e}") from None
    return tensors, loaded, doc
