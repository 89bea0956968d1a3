"""Damaged checkpoints: every case gives a one-line error or an exact load.

A matrix of damage cases × three consumers:

  evaluate   ``deepq evaluate RUN --episodes 1`` (reads no replay arrays)
  resume     ``deepq train --resume RUN --steps <saved + 50> --no-progress``
  learn      ``DQN.load(RUN)`` then ``model.learn(10)``

Each case says what each consumer should do: succeed (``ok``), succeed with a
DeepQWarning (``warn``), fail with a DeepQError / one-line CLI error (``error``),
refuse to continue because a part is missing unless allowed (``inexact``), or either
succeed or fail cleanly (``any``: damage no check can see, e.g. a changed weight with
its SHA-256 fixed). Whatever is expected, no consumer may raise any other exception,
print a traceback, print more than one error line, hang, or run code from the
checkpoint (every pickle payload here would create a marker file). A failed resume may
print its "resuming ... restored ..." line before the error line.

Damage that can crash the interpreter itself (an optimizer moment smaller than its
parameter: torch's fused Adam writes past its end) runs the consumer in a child process.

One small CartPole run is trained per module and copied into a fresh directory per test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import traceback
import warnings
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from deepq import DQN, checkpoint, cli, config
from deepq.errors import DeepQError, DeepQWarning
from deepq.presets import PRESETS

STEPS = 400  # the run's total steps: its one checkpoint is of this step
CKPT = f"step_{STEPS:010d}"
TIMEOUT_S = 90  # per test: a hang fails the test instead of the session

SMALL = config.override(PRESETS["cartpole"].config, {
    "total_steps": STEPS, "learn_start": 100, "buffer_size": 1000, "hidden": [16],
    "eval_every": 0, "stop_return": None, "log_every": 100, "seed": 0})


# -- the run and its copies --------------------------------------------------------

@pytest.fixture(scope="module")
def source_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("damage-source") / "run"
    DQN(SMALL, run_dir=run, tensorboard=False).learn()
    assert checkpoint.resolve(run) == run / "checkpoints" / CKPT
    return run


class Hang(BaseException):
    """Raised by SIGALRM: a BaseException so that no `except Exception` swallows it."""


@pytest.fixture
def alarm():
    def on_alarm(signum, frame):
        raise Hang(f"no answer within {TIMEOUT_S} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIMEOUT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# -- damage helpers -----------------------------------------------------------------

def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_state(ck: Path) -> dict:
    return json.loads((ck / "state.json").read_text())


def _write_state(ck: Path, doc) -> None:
    (ck / "state.json").write_text(json.dumps(doc, indent=1))  # NaN/Infinity written as such


def fix(ck: Path, *rels: str) -> None:
    """Make state.json's size and SHA-256 of ``rels`` match the files: only a content
    check can catch the damage then."""
    doc = _read_state(ck)
    for rel in rels:
        f = ck / rel
        doc["files"][rel] = {"bytes": f.stat().st_size, "sha256": _sha(f)}
    _write_state(ck, doc)


def truncate(rel: str, length: str, refix: bool = False):
    def damage(ck, run, tmp):
        f = ck / rel
        data = f.read_bytes()
        f.write_bytes(data[:{"0": 0, "1": 1, "half": len(data) // 2}[length]])
        if refix:
            fix(ck, rel)
    return damage


def flip(rel: str, where: str | int, refix: bool = False, mask: int = 0xFF):
    def damage(ck, run, tmp):
        f = ck / rel
        data = bytearray(f.read_bytes())
        i = {"first": 0, "middle": len(data) // 2, "last": len(data) - 1}.get(where, where)
        data[i] ^= mask
        f.write_bytes(bytes(data))
        if refix:
            fix(ck, rel)
    return damage


def delete(rel: str):
    def damage(ck, run, tmp):
        p = ck / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return damage


def state(edit: Callable[[dict], object]):
    """Edit state.json's document in place (what ``edit`` returns is ignored)."""
    def damage(ck, run, tmp):
        doc = _read_state(ck)
        edit(doc)
        _write_state(ck, doc)
    return damage


def raw_state(text: str | bytes):
    def damage(ck, run, tmp):
        data = text.encode() if isinstance(text, str) else text
        (ck / "state.json").write_bytes(data)
    return damage


def tensors(edit: Callable[[dict], None]):
    """Rewrite tensors.safetensors after ``edit`` changes the dict, and fix its size/SHA."""
    def damage(ck, run, tmp):
        t = load_file(str(ck / "tensors.safetensors"))
        edit(t)
        save_file(t, str(ck / "tensors.safetensors"))
        fix(ck, "tensors.safetensors")
    return damage


def array(name: str, edit: Callable[[np.ndarray], np.ndarray]):
    """Re-save arrays/<name>.npy as ``edit`` returns it, and fix its size/SHA."""
    def damage(ck, run, tmp):
        f = ck / "arrays" / f"{name}.npy"
        np.save(f, edit(np.load(f)), allow_pickle=False)
        fix(ck, f"arrays/{name}.npy")
    return damage


def latest(text: str | bytes):
    def damage(ck, run, tmp):
        data = text.encode() if isinstance(text, str) else text
        (run / "checkpoints" / "latest").write_bytes(data)
    return damage


def drop_key(key: str):
    def edit(doc):
        del doc[key]
    return edit


def set_path(path: str, value):
    """Set doc[a][b]... = value, path "a.b.0.c" (list indices as digits)."""
    def edit(doc):
        *head, last = path.split(".")
        node = doc
        for k in head:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[int(last) if isinstance(node, list) else last] = value
    return edit


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


class Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def marker_of(tmp: Path) -> Path:
    return tmp / "PWNED"


def pickled_npy(name: str):
    """arrays/<name>.npy holding a pickled object array whose unpickling runs a command."""
    def damage(ck, run, tmp):
        f = ck / "arrays" / f"{name}.npy"
        payload = np.empty(1, dtype=object)
        payload[0] = Payload(marker_of(tmp))
        np.save(f, payload, allow_pickle=True)
        fix(ck, f"arrays/{name}.npy")
    return damage


def plant(rel: str, kind: str = "pickle"):
    """A file deepq did not write: a pickle payload (never to be read), or a FIFO (never
    to be opened: opening one for reading would block)."""
    def damage(ck, run, tmp):
        f = ck / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        if kind == "fifo":
            os.mkfifo(f)
        elif kind == "npy-pickle":
            payload = np.empty(1, dtype=object)
            payload[0] = Payload(marker_of(tmp))
            np.save(f, payload, allow_pickle=True)
        else:
            import pickle

            f.write_bytes(pickle.dumps(Payload(marker_of(tmp))))
    return damage


def files_entry(rel: str, target: Path | None = None):
    """Add a files entry named ``rel`` (with the real size/SHA of ``target`` if given)."""
    def edit(doc):
        info = {"bytes": 1, "sha256": "0" * 64}
        if target is not None and target.is_file():
            info = {"bytes": target.stat().st_size, "sha256": _sha(target)}
        doc["files"][rel] = info
    return edit


def unlist(rel: str):
    def edit(doc):
        del doc["files"][rel]
    return edit


def symlink_outside(rel: str):
    """Replace ``rel`` by a symlink to an identical copy outside the checkpoint."""
    def damage(ck, run, tmp):
        f = ck / rel
        outside = tmp / ("outside-" + f.name)
        shutil.copy2(f, outside)
        f.unlink()
        f.symlink_to(outside)
    return damage


def replace_with(rel: str, kind: str):
    def damage(ck, run, tmp):
        f = ck / rel
        f.unlink()
        if kind == "dir":
            f.mkdir()
        elif kind == "fifo":
            os.mkfifo(f)
        elif kind == "devzero":
            f.symlink_to("/dev/zero")
    return damage


def both(*damages):
    def damage(ck, run, tmp):
        for d in damages:
            d(ck, run, tmp)
    return damage


# -- the cases ----------------------------------------------------------------------

OK, WARN, ERR, INEX, ANY = "ok", "warn", "error", "inexact", "any"
ALL_ERR = (ERR, ERR, ERR)  # (evaluate, resume, learn)
REPLAY_ERR = (OK, ERR, ERR)  # damage to the replay or episodes only: evaluate reads neither
INEXACT = (OK, INEX, INEX)


@dataclass(frozen=True)
class Case:
    id: str
    damage: Callable[[Path, Path, Path], None]
    expect: tuple[str, str, str]
    isolate: bool = False  # run the consumer in a child process: the damage may crash the interpreter
    error_not: str = ""  # an error must not say this (a symptom found by chance, not the damage)


TENSORS, NPY, STATE = "tensors.safetensors", "arrays/reward.npy", "state.json"
FILE_KINDS = {"tensors": (TENSORS, ALL_ERR), "npy": (NPY, REPLAY_ERR), "state": (STATE, ALL_ERR)}


def _cases() -> list[Case]:
    c: list[Case] = [Case("intact", lambda ck, run, tmp: None, (OK, OK, OK))]

    # truncation and flipped bytes, caught by the size and SHA-256 in state.json
    for (kind, (rel, expect)), length in product(FILE_KINDS.items(), ("0", "1", "half")):
        c.append(Case(f"truncate-{kind}-{length}", truncate(rel, length), expect))
    for (kind, (rel, expect)), where in product(FILE_KINDS.items(), ("first", "middle", "last")):
        c.append(Case(f"flip-{kind}-{where}", flip(rel, where), expect))
    # ... and with size/SHA fixed, so that the file's own parser meets the damage
    for kind, length in product(("tensors", "npy"), ("0", "1", "half")):
        rel, expect = FILE_KINDS[kind]
        c.append(Case(f"truncate-fixed-{kind}-{length}", truncate(rel, length, refix=True), expect))
    c += [
        Case("flip-fixed-tensors-header-length", flip(TENSORS, 7, refix=True), ALL_ERR),
        Case("flip-fixed-tensors-header-json", flip(TENSORS, 12, refix=True), ALL_ERR),
        Case("flip-fixed-tensors-last", flip(TENSORS, "last", refix=True, mask=0x01), (ANY, ANY, ANY)),
        Case("flip-fixed-npy-magic", flip(NPY, "first", refix=True), REPLAY_ERR),
        Case("flip-fixed-npy-header", flip(NPY, 30, refix=True), REPLAY_ERR),
        Case("flip-fixed-npy-last", flip(NPY, "last", refix=True, mask=0x01), (OK, ANY, ANY)),
        Case("flip-state-middle-bit", flip(STATE, "middle", mask=0x01), (ANY, ANY, ANY)),
    ]

    # deleted, replaced or moved files
    c += [
        Case("delete-tensors", delete(TENSORS), ALL_ERR),
        Case("delete-npy", delete(NPY), REPLAY_ERR),
        Case("delete-state", delete(STATE), ALL_ERR),
        Case("delete-arrays-dir", delete("arrays"), REPLAY_ERR),
        Case("delete-latest", lambda ck, run, tmp: (run / "checkpoints" / "latest").unlink(), ALL_ERR),
        Case("delete-checkpoint-dir", lambda ck, run, tmp: shutil.rmtree(ck), ALL_ERR),
        Case("tensors-is-dir", replace_with(TENSORS, "dir"), ALL_ERR),
        Case("tensors-is-fifo", replace_with(TENSORS, "fifo"), ALL_ERR),
        Case("tensors-symlink-devzero", replace_with(TENSORS, "devzero"), ALL_ERR),
        Case("tensors-symlink-outside", symlink_outside(TENSORS), ALL_ERR),
        Case("npy-symlink-outside", symlink_outside(NPY), REPLAY_ERR),
        Case("state-is-dir", replace_with(STATE, "dir"), ALL_ERR),
        Case("state-is-fifo", replace_with(STATE, "fifo"), ALL_ERR),
    ]

    # checkpoints/latest
    c += [
        Case("latest-missing-dir", latest("step_0000009999\n"), ALL_ERR),
        Case("latest-absolute", latest("/etc\n"), ALL_ERR),
        Case("latest-absolute-checkpoint", lambda ck, run, tmp: latest(f"{ck}\n")(ck, run, tmp), ALL_ERR),
        Case("latest-dotdot", latest("../..\n"), ALL_ERR),
        Case("latest-dotdot-checkpoint", latest(f"../checkpoints/{CKPT}\n"), ALL_ERR),
        Case("latest-empty", latest(""), ALL_ERR),
        Case("latest-binary", latest(b"\xff\xfe\x00\x93garbage"), ALL_ERR),
        Case("latest-nul", latest(f"{CKPT}\x00\n"), ALL_ERR),
        Case("latest-is-dir", lambda ck, run, tmp: (
            (run / "checkpoints" / "latest").unlink(), (run / "checkpoints" / "latest").mkdir()), ALL_ERR),
        Case("latest-extra-whitespace", latest(f"  {CKPT}\n\n"), (OK, OK, OK)),
    ]

    # arrays of the wrong dtype or shape (size/SHA fixed)
    c += [
        Case("npy-reward-float64", array("reward", lambda a: a.astype(np.float64)), REPLAY_ERR),
        Case("npy-reward-short", array("reward", lambda a: a[:-1]), REPLAY_ERR),
        Case("npy-reward-2d", array("reward", lambda a: a[:, None]), REPLAY_ERR),
        Case("npy-frames-wide", array("frames", lambda a: np.concatenate([a, a[:, :1]], 1)), REPLAY_ERR),
        Case("npy-action-float", array("action", lambda a: a.astype(np.float32)), REPLAY_ERR),
        Case("npy-action-out-of-range", array("action", lambda a: np.full_like(a, 7)), REPLAY_ERR),
        Case("npy-frames-fortran", array("frames", np.asfortranarray), (OK, ANY, ANY)),
        Case("npy-pickle-payload", pickled_npy("reward"), REPLAY_ERR),
    ]

    # tensors of the wrong shape, dtype or name (size/SHA fixed)
    def t_set(key, fn):
        def edit(t):
            t[key] = fn(t[key])
        return edit

    def t_drop(prefix):
        def edit(t):
            for k in [k for k in t if k.startswith(prefix)]:
                del t[k]
        return edit

    w = "online.net.0.weight"
    c += [
        Case("tensor-wrong-shape", tensors(t_set(w, lambda v: torch.zeros(16, 5))), ALL_ERR),
        Case("tensor-float16", tensors(t_set(w, lambda v: v.half())), ALL_ERR),
        Case("tensor-int32", tensors(t_set(w, lambda v: v.to(torch.int32))), ALL_ERR),
        Case("tensor-missing-key", tensors(t_drop("online.net.0.bias")), ALL_ERR),
        Case("tensor-extra-key", tensors(lambda t: t.update({"online.extra": torch.zeros(3)})), ALL_ERR),
        Case("tensor-no-target", tensors(t_drop("target.")), ALL_ERR),
        Case("tensor-no-online", tensors(t_drop("online.")), ALL_ERR),
        Case("optim-wrong-shape", tensors(t_set("optim.0.exp_avg", lambda v: torch.zeros(16, 5))), (ANY, ERR, ERR)),
        Case("optim-wrong-dtype", tensors(t_set("optim.0.exp_avg", lambda v: v.to(torch.int32))), (ANY, ERR, ERR)),
        Case("optim-missing-step", tensors(t_drop("optim.0.step")), (ANY, ERR, ERR)),
        Case("optim-extra-param", tensors(lambda t: t.update({"optim.9.exp_avg": torch.zeros(3)})), (ANY, ERR, ERR)),
        Case("optim-missing", tensors(t_drop("optim.")), INEXACT),
        # smaller than the parameter: torch's fused Adam writes past the end of the moment
        # tensor (heap corruption, "malloc_consolidate(): invalid chunk size", SIGABRT)
        # (what then stops the run, if anything, is the non-finite loss the corruption causes)
        Case("optim-moment-too-small", tensors(t_set("optim.0.exp_avg", lambda v: torch.zeros(2))),
             (ANY, ERR, ERR), isolate=True, error_not="non-finite"),
        Case("optim-step-wrong-shape", tensors(t_set("optim.0.step", lambda v: torch.zeros(0))),
             (ANY, ERR, ERR), isolate=True),
        Case("nan-weight", tensors(t_set(w, lambda v: v.index_fill(0, torch.tensor([0]), float("nan")))), ALL_ERR),
        Case("inf-weight", tensors(t_set("target.net.2.bias", lambda v: v + float("inf"))), ALL_ERR),
        Case("nan-optim-moment", tensors(t_set("optim.0.exp_avg", lambda v: v * float("nan"))), ALL_ERR),
        Case("inf-optim-moment", tensors(t_set("optim.1.exp_avg_sq", lambda v: v + float("inf"))), ALL_ERR),
        Case("nan-replay-reward", array("reward", lambda a: np.where(np.arange(len(a)) == 3, np.nan, a)
                                        .astype(a.dtype)), REPLAY_ERR),
        Case("inf-replay-reward", array("reward", lambda a: a + np.float32(np.inf)), REPLAY_ERR),
        Case("inf-replay-frames", array("frames", lambda a: -a * np.float32(np.inf)), REPLAY_ERR),
    ]

    # state.json that is not a state document
    c += [
        Case("state-not-json", raw_state("hello, world\n"), ALL_ERR),
        Case("state-empty", raw_state(""), ALL_ERR),
        Case("state-not-utf8", raw_state(b"\xff\xfe{\x00}"), ALL_ERR),
        Case("state-list", raw_state("[]"), ALL_ERR),
        Case("state-null", raw_state("null"), ALL_ERR),
        Case("state-number", raw_state("42"), ALL_ERR),
        Case("state-string", raw_state('"deepq-checkpoint"'), ALL_ERR),
        Case("state-empty-object", raw_state("{}"), ALL_ERR),
        Case("state-nested-100000", raw_state(nested(100_000)), ALL_ERR),
        Case("state-nested-objects-100000", raw_state('{"a":' * 100_000 + "1" + "}" * 100_000), ALL_ERR),
        Case("state-nested-in-config", lambda ck, run, tmp: raw_state(
            (ck / "state.json").read_text().replace('"config": {', f'"config": {{"deep": {nested(100_000)}, ', 1)
        )(ck, run, tmp), ALL_ERR),
    ]

    # each top-level key missing in turn
    required = ["format", "version", "step", "files", "algorithm", "config", "counters",
                "episode_returns", "last_eval", "loss_window"]
    for key in required:
        c.append(Case(f"missing-{key}", state(drop_key(key)), ALL_ERR))
    for key in ("optimizer", "rng"):
        c.append(Case(f"missing-{key}", state(drop_key(key)), INEXACT))
    for key in ("replay", "rollout"):  # evaluate needs neither
        c.append(Case(f"missing-{key}", state(drop_key(key)), INEXACT))
    c.append(Case("missing-inexact_resumes", state(drop_key("inexact_resumes")), (OK, OK, OK)))

    # the envelope and its file list
    hostname = Path("/etc/hostname")
    c += [
        Case("format-other", state(set_path("format", "other")), ALL_ERR),
        Case("version-99", state(set_path("version", 99)), ALL_ERR),
        Case("version-1", state(set_path("version", 1)), ALL_ERR),  # before the speed group
        Case("version-string", state(set_path("version", "1")), ALL_ERR),
        Case("version-true", state(set_path("version", True)), ALL_ERR),
        Case("step-string", state(set_path("step", "400")), ALL_ERR),
        Case("files-list", state(set_path("files", [])), ALL_ERR),
        Case("files-string", state(set_path("files", "tensors.safetensors")), ALL_ERR),
        Case("files-null", state(set_path("files", None)), ALL_ERR),
        Case("files-empty", state(set_path("files", {})), ALL_ERR),
        Case("files-entry-no-sha", state(lambda d: d["files"][TENSORS].pop("sha256")), ALL_ERR),
        Case("files-entry-no-bytes", state(lambda d: d["files"][TENSORS].pop("bytes")), ALL_ERR),
        Case("files-entry-string", state(lambda d: d["files"].update({TENSORS: "abc"})), ALL_ERR),
        Case("files-entry-null", state(lambda d: d["files"].update({TENSORS: None})), ALL_ERR),
        Case("files-sha-not-hex", state(lambda d: d["files"][TENSORS].update(sha256="z" * 64)), ALL_ERR),
        Case("files-sha-short", state(lambda d: d["files"][TENSORS].update(sha256="ab")), ALL_ERR),
        Case("files-sha-int", state(lambda d: d["files"][TENSORS].update(sha256=12)), ALL_ERR),
        Case("files-bytes-string", state(lambda d: d["files"][TENSORS].update(bytes="3344")), ALL_ERR),
        Case("files-bytes-negative", state(lambda d: d["files"][TENSORS].update(bytes=-1)), ALL_ERR),
        Case("files-bytes-float", state(lambda d: d["files"][TENSORS].update(bytes=3344.0)), ALL_ERR),
        Case("files-npy-entry-no-sha", state(lambda d: d["files"][NPY].pop("sha256")), ALL_ERR),
        Case("files-dotdot-hostname", state(files_entry("../../../../etc/hostname", hostname)), ALL_ERR),
        Case("files-absolute-hostname", state(files_entry("/etc/hostname", hostname)), ALL_ERR),
        Case("files-arrays-dotdot", state(files_entry("arrays/../../../../etc/hostname.npy")), ALL_ERR),
        Case("files-lists-state", state(files_entry("state.json")), ALL_ERR),
        Case("files-nested-arrays", state(files_entry("arrays/sub/x.npy")), ALL_ERR),
        Case("files-not-npy", state(files_entry("arrays/x.pkl")), ALL_ERR),
        # reward.npy no longer listed: a file deepq "did not write" (warned about, never
        # read), so the replay lacks an array
        Case("files-unlisted-npy", state(unlist(NPY)), (WARN, ERR, ERR)),
        Case("files-unlisted-tensors", state(unlist(TENSORS)), ALL_ERR),
    ]

    # the algorithm's state
    rng_py = "rng.python"
    c += [
        Case("algorithm-unknown", state(set_path("algorithm", "ppo")), ALL_ERR),
        Case("algorithm-empty", state(set_path("algorithm", "")), ALL_ERR),
        Case("algorithm-null", state(set_path("algorithm", None)), ALL_ERR),
        Case("algorithm-list", state(set_path("algorithm", ["dqn"])), ALL_ERR),
        Case("algorithm-object", state(set_path("algorithm", {"name": "dqn"})), ALL_ERR),
        Case("algorithm-c51", state(set_path("algorithm", "c51")), ALL_ERR),
        Case("config-list", state(set_path("config", [])), ALL_ERR),
        Case("config-empty", state(set_path("config", {})), ALL_ERR),  # defaults: another network
        Case("config-unknown-key", state(set_path("config.warp_drive", True)), ALL_ERR),
        Case("config-wrong-type", state(set_path("config.buffer_size", "big")), ALL_ERR),
        Case("config-bool-for-int", state(set_path("config.batch_size", True)), ALL_ERR),
        Case("config-nan-lr", state(set_path("config.lr", float("nan"))), ALL_ERR),
        Case("config-nan-gamma", state(set_path("config.gamma", float("nan"))), ALL_ERR),
        Case("config-inf-eps-decay", state(set_path("config.eps_decay", float("inf"))), ALL_ERR),
        Case("config-out-of-range", state(set_path("config.gamma", 2.0)), ALL_ERR),
        Case("config-unknown-env", state(set_path("config.env_id", "NoSuchEnv-v9")), ALL_ERR),
        Case("config-other-network", state(set_path("config.hidden", [32])), ALL_ERR),
        Case("config-other-capacity", state(set_path("config.buffer_size", 2000)), REPLAY_ERR),
        Case("counters-list", state(set_path("counters", [400, 150, 0, 0.0])), ALL_ERR),
        Case("counters-step-string", state(set_path("counters.step", "400")), ALL_ERR),
        Case("counters-step-negative", state(set_path("counters.step", -5)), ALL_ERR),
        Case("counters-step-huge", state(set_path("counters.step", 10 ** 30)), (ANY, ANY, ANY)),
        Case("counters-update-float", state(set_path("counters.update", 150.5)), ALL_ERR),
        Case("counters-update-negative", state(set_path("counters.update", -1)), ALL_ERR),
        Case("counters-evaluations-bool", state(set_path("counters.evaluations", True)), ALL_ERR),
        Case("counters-wall-time-string", state(set_path("counters.wall_time", "1 s")), ALL_ERR),
        Case("counters-wall-time-nan", state(set_path("counters.wall_time", float("nan"))), ALL_ERR),
        Case("counters-missing-update", state(lambda d: d["counters"].pop("update")), ALL_ERR),
        Case("episode-returns-strings", state(set_path("episode_returns", ["a", "b"])), ALL_ERR),
        Case("episode-returns-object", state(set_path("episode_returns", {"a": 1})), ALL_ERR),
        Case("episode-returns-nested", state(set_path("episode_returns", [[[1.0]]])), ALL_ERR),
        Case("last-eval-string", state(set_path("last_eval", "high")), ALL_ERR),
        Case("loss-window-short", state(set_path("loss_window", [1.0])), ALL_ERR),
        Case("loss-window-strings", state(set_path("loss_window", ["a", "b", 1])), (ANY, ERR, ERR)),
        Case("loss-window-nan", state(set_path("loss_window", [float("nan"), 0.0, 1])), (ANY, ERR, ERR)),
        Case("loss-window-negative-count", state(set_path("loss_window", [1.0, 1.0, -3])), (ANY, ERR, ERR)),
        Case("rng-list", state(set_path("rng", [1, 2, 3])), ALL_ERR),
        Case("rng-empty-object", state(set_path("rng", {})), ALL_ERR),
        Case("rng-python-empty", state(set_path(rng_py, [])), ALL_ERR),
        Case("rng-python-short-state", state(set_path(f"{rng_py}.1", [1, 2, 3])), ALL_ERR),
        Case("rng-python-strings", state(set_path(f"{rng_py}.1", ["x"] * 625)), ALL_ERR),
        Case("rng-torch-short", state(set_path("rng.torch", [1, 2, 3])), ALL_ERR),
        Case("rng-torch-out-of-range", state(lambda d: d["rng"]["torch"].__setitem__(0, 999)), ALL_ERR),
        Case("rng-torch-strings", state(lambda d: d["rng"]["torch"].__setitem__(0, "x")), ALL_ERR),
        Case("rng-replay-empty", state(set_path("rng.replay", {})), ALL_ERR),
        Case("rng-replay-other-generator", state(set_path("rng.replay", {"bit_generator": "MT19937"})), ALL_ERR),
        Case("rng-replay-bad-state", state(set_path("rng.replay.state", "x")), ALL_ERR),
        Case("rng-policy-list", state(set_path("rng.policy", [])), ALL_ERR),
        Case("optimizer-list", state(set_path("optimizer", [])), ALL_ERR),
        Case("optimizer-empty-object", state(set_path("optimizer", {})), ALL_ERR),
        Case("optimizer-values-list", state(set_path("optimizer.values", [])), ALL_ERR),
        Case("optimizer-values-bad-key", state(set_path("optimizer.values", {"x.step": 1})), ALL_ERR),
        Case("optimizer-no-groups", state(set_path("optimizer.param_groups", [])), ALL_ERR),
        Case("optimizer-group-string", state(set_path("optimizer.param_groups", ["x"])), ALL_ERR),
        Case("optimizer-group-no-params", state(lambda d: d["optimizer"]["param_groups"][0].pop("params")), ALL_ERR),
        Case("optimizer-group-wrong-params", state(set_path("optimizer.param_groups.0.params", [0, 1, 2, 99])),
             ALL_ERR),
        Case("optimizer-lr-string", state(set_path("optimizer.param_groups.0.lr", "fast")), (ANY, ERR, ERR)),
        Case("optimizer-lr-nan", state(set_path("optimizer.param_groups.0.lr", float("nan"))), (ANY, ERR, ERR)),
        Case("optimizer-betas-string", state(set_path("optimizer.param_groups.0.betas", "ab")), (ANY, ERR, ERR)),
        Case("replay-string", state(set_path("replay", "full")), ALL_ERR),
        Case("replay-empty-object", state(set_path("replay", {})), REPLAY_ERR),
        Case("replay-cursor-string", state(set_path("replay.cursor", "x")), REPLAY_ERR),
        Case("replay-cursor-out-of-range", state(set_path("replay.cursor", 99_999)), REPLAY_ERR),
        Case("replay-cursor-negative", state(set_path("replay.cursor", -1)), REPLAY_ERR),
        Case("replay-size-too-big", state(set_path("replay.size", 5000)), REPLAY_ERR),
        Case("replay-size-negative", state(set_path("replay.size", -1)), REPLAY_ERR),
        Case("replay-other-capacity", state(set_path("replay.capacity", 5)), REPLAY_ERR),
        Case("replay-pending-bad", state(set_path("replay.pending", [[1]])), REPLAY_ERR),
        Case("replay-pending-out-of-range", state(set_path("replay.pending", [[99_999, 99_999]])), REPLAY_ERR),
        Case("rollout-string", state(set_path("rollout", "x")), ALL_ERR),
        Case("rollout-empty-object", state(set_path("rollout", {})), REPLAY_ERR),
        Case("rollout-episode-string", state(set_path("rollout.episode", "x")), REPLAY_ERR),
        Case("rollout-action-out-of-range", state(set_path("rollout.actions", [5, 5, 5])), REPLAY_ERR),
        Case("rollout-action-string", state(set_path("rollout.actions", ["left"])), REPLAY_ERR),
        Case("rollout-too-many-actions", state(set_path("rollout.actions", [0] * 1000)), REPLAY_ERR),
        Case("inexact-resumes-string", state(set_path("inexact_resumes", "x")), ALL_ERR),
    ]

    # files deepq did not write: warned about, never read
    c += [
        Case("planted-evil-pkl", plant("evil.pkl"), (WARN, WARN, WARN)),
        Case("planted-evil-pkl-in-arrays", plant("arrays/evil.pkl"), (WARN, WARN, WARN)),
        Case("planted-evil-npy", plant("arrays/evil.npy", "npy-pickle"), (WARN, WARN, WARN)),
        Case("planted-fifo", plant("arrays/evil.npy", "fifo"), (ANY, ANY, ANY)),
        # a planted pickle that state.json also lists with its real size/SHA
        Case("planted-listed-pickle-npy", both(plant("arrays/evil.npy", "npy-pickle"),
                                               lambda ck, run, tmp: fix(ck, "arrays/evil.npy")), REPLAY_ERR),
    ]
    ids = [x.id for x in c]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return c


CASES = _cases()
CONSUMERS = ("evaluate", "resume", "learn")


# -- consumers ----------------------------------------------------------------------

@dataclass
class Outcome:
    ok: bool
    message: str = ""  # the error message (one line)
    warned: bool = False  # a DeepQWarning was given
    phase: str = ""  # learn consumer: "load" or "learn"


def _tail(exc: BaseException) -> str:
    """The last frames of the traceback and the exception line."""
    return "".join(traceback.format_exception(exc)[-5:])[-2500:]


def _run_cli(argv: list[str], capsys, allowed_before_error: tuple[str, ...] = ()) -> tuple[Outcome, str]:
    escaped = None
    try:
        rc = cli.main(argv)
    except Hang:
        raise
    except BaseException as e:  # noqa: BLE001 - any escape is the failure being tested
        escaped = e
    if escaped is not None:
        pytest.fail(f"deepq {argv[0]} let {type(escaped).__name__} escape (a traceback for the "
                    f"user):\n{_tail(escaped)}", pytrace=False)
    out, err = capsys.readouterr()
    return _cli_outcome(rc, out, err, allowed_before_error), out


def _cli_outcome(rc: int, out: str, err: str, allowed_before_error: tuple[str, ...] = ()) -> Outcome:
    """Check what a command printed: a failure is one 'deepq: error:' line, last on stderr."""
    if "Traceback" in err:
        pytest.fail(f"traceback on stderr (exit status {rc}):\n{err[-2500:]}", pytrace=False)
    lines = err.splitlines()
    warned = any(line.startswith("deepq: warning:") for line in lines)
    if rc == 0:
        return Outcome(True, warned=warned)
    assert rc == 2, f"exit status {rc}; stderr:\n{err[-3000:]}"
    errors = [line for line in lines if line.startswith("deepq: error:")]
    assert len(errors) == 1 and lines and lines[-1] == errors[0], \
        f"stderr should end in exactly one 'deepq: error:' line:\n{err[-3000:]}"
    others = [line for line in lines[:-1]
              if not line.startswith("deepq: warning:") and not line.startswith(allowed_before_error)]
    assert not others, f"stderr has lines besides the error and warnings:\n{err[-3000:]}"
    return Outcome(False, errors[0], warned=warned)


def consume_evaluate(run: Path, capsys) -> Outcome:
    outcome, out = _run_cli(["evaluate", str(run), "--episodes", "1"], capsys)
    if outcome.ok:
        assert "mean return" in out and "over 1 episodes" in out, out
    return outcome


def consume_resume(run: Path, capsys, allow_inexact: bool = False) -> Outcome:
    argv = ["train", "--resume", str(run), "--steps", str(STEPS + 50), "--no-progress"]
    # the resume names what it restored before learning starts; a refusal to go on
    # inexactly comes after that line
    outcome, _ = _run_cli(argv + ["--allow-inexact"] * allow_inexact, capsys,
                          allowed_before_error=("resuming ", "network: "))
    if outcome.ok:
        ck = checkpoint.resolve(run)
        assert _read_state(ck)["counters"]["step"] == STEPS + 50, ck
    return outcome


def consume_learn(run: Path, capsys, allow_inexact: bool = False) -> Outcome:
    phase, escaped = "load", None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = DQN.load(run, allow_inexact=allow_inexact)
            phase, start = "learn", model.step
            model.learn(10)
        except DeepQError as e:
            outcome = Outcome(False, str(e), phase=phase)
        except Hang:
            raise
        except BaseException as e:  # noqa: BLE001 - any escape is the failure being tested
            escaped = e
        else:
            outcome = Outcome(True, phase=phase)
            assert model.step == start + 10
    if escaped is not None:
        pytest.fail(f"DQN.load/learn let {type(escaped).__name__} escape in {phase}, not a "
                    f"DeepQError:\n{_tail(escaped)}", pytrace=False)
    outcome.warned = any(issubclass(w.category, DeepQWarning) for w in caught)
    if not outcome.ok:
        assert outcome.message.strip(), "a DeepQError without a message"
    return outcome


CONSUME = {"evaluate": consume_evaluate, "resume": consume_resume, "learn": consume_learn}

_LEARN_SCRIPT = """
import sys
from deepq import DQN
from deepq.errors import DeepQError
try:
    DQN.load(sys.argv[1]).learn(10)
except DeepQError as e:
    print("deepq: error: " + " ".join(str(e).splitlines()), file=sys.stderr)
    sys.exit(2)
"""


def consume_isolated(consumer: str, run: Path) -> Outcome:
    """The consumer in a child process (``python -m deepq``, or a script for the API), for
    damage that may kill the interpreter: a signal or a crash is a failure like a traceback."""
    argv = {"evaluate": ["-m", "deepq", "evaluate", str(run), "--episodes", "1"],
            "resume": ["-m", "deepq", "train", "--resume", str(run), "--steps", str(STEPS + 50),
                       "--no-progress"],
            "learn": ["-c", _LEARN_SCRIPT, str(run)]}[consumer]
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TQDM_DISABLE="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    try:
        proc = subprocess.run([sys.executable, *argv], cwd=root, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S - 15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{consumer} gave no answer within {TIMEOUT_S - 15} s", pytrace=False)
    if proc.returncode < 0:
        pytest.fail(f"{consumer} was killed by signal {-proc.returncode} "
                    f"({signal.Signals(-proc.returncode).name}); stderr:\n{proc.stderr[-2000:]}",
                    pytrace=False)
    return _cli_outcome(proc.returncode, proc.stdout, proc.stderr,
                        ("resuming ",) if consumer == "resume" else ())


# -- the matrix ---------------------------------------------------------------------

@pytest.mark.parametrize("case, consumer", [pytest.param(c, k, id=f"{c.id}-{k}")
                                            for c, k in product(CASES, CONSUMERS)])
def test_damaged_checkpoint(case: Case, consumer: str, source_run: Path, tmp_path: Path, capsys, alarm):
    run = tmp_path / "run"
    shutil.copytree(source_run, run, symlinks=True)
    case.damage(run / "checkpoints" / CKPT, run, tmp_path)
    capsys.readouterr()

    expect = case.expect[CONSUMERS.index(consumer)]
    outcome = consume_isolated(consumer, run) if case.isolate else CONSUME[consumer](run, capsys)
    got = "success" if outcome.ok else (f"error{f' in {outcome.phase}' if outcome.phase else ''}: "
                                        f"{outcome.message}")
    what = f"{case.id} × {consumer}: expected {expect}, got {got}"
    if expect == OK and not outcome.ok:
        pytest.fail(what, pytrace=False)
    elif expect == WARN and not (outcome.ok and outcome.warned):
        pytest.fail(what + (" without a DeepQWarning" if outcome.ok else ""), pytrace=False)
    elif expect == ERR and outcome.ok:
        pytest.fail(what, pytrace=False)
    elif expect == ERR and case.error_not and case.error_not in outcome.message:
        pytest.fail(what + " (found by chance after the damaged part was used, not by a check)",
                    pytrace=False)
    elif expect == INEX:
        if outcome.ok or "cannot resume exactly" not in outcome.message or outcome.phase == "load":
            pytest.fail(what, pytrace=False)
        assert not case.isolate
        retried = CONSUME[consumer](run, capsys, allow_inexact=True)
        if not retried.ok:
            pytest.fail(f"{case.id} × {consumer} with allow_inexact: {retried.message}", pytrace=False)
    assert expect in (OK, WARN, ERR, INEX, ANY)
    assert not marker_of(tmp_path).exists(), f"{case.id} × {consumer}: a pickle payload ran"
