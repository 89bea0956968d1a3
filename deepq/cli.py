"""Command line: parsing and dispatch only.

    deepq train PRESET|ENV_ID [--steps N] [--seed S] [--run-dir D] [--set k=v ...] [--config F]
    deepq train --resume RUN_DIR [--steps N]
    deepq evaluate RUN_DIR|CHECKPOINT [--episodes N] [--eps E] [--video DIR] [--set k=v ...]
    deepq plot RUN_DIR [RUN_DIR ...] [--out FILE]
    deepq compare RUN_DIR [RUN_DIR ...] [--out FILE]   (mean ± band over seeds, per variant)
    deepq presets [--show NAME]
    deepq lab NAME [...]                 (deepq/lab/cli.py parses these)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import json
import time
import warnings
from pathlib import Path

from deepq import checkpoint, config, envs, log, networks, presets
from deepq.algos.dqn import DQN, DQNConfig
from deepq.errors import DeepQError, DeepQWarning
from deepq.presets import ALGORITHMS


def _algorithm_for_checkpoint(path: str | Path) -> type:
    """The class that wrote the checkpoint at ``path``; a damaged checkpoint falls
    through to DQN.load's errors."""
    try:
        name = json.loads((checkpoint.resolve(path) / "state.json").read_text()).get("algorithm")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, OSError, RecursionError):
        return DQN
    if not isinstance(name, str):
        return DQN
    if name not in ALGORITHMS:
        raise DeepQError(f"{path} holds a {str(name)[:40]!r} checkpoint, which this deepq cannot load")
    return ALGORITHMS[name]


def _base_preset(target: str, modules: tuple[str, ...]) -> tuple[str, presets.Preset, str]:
    """A preset by name, or an environment id with default settings: an Atari game gets
    the ``pong`` preset's (the DeepMind setup), any other id ``DQNConfig``'s documented
    defaults, the network chosen by its observations (``networks.build``)."""
    preset = presets.get(target)
    if preset is not None:
        return target, preset, ""
    if envs.is_atari(target, modules):
        base = presets.PRESETS["pong"]
        cfg = dataclasses.replace(base.config, env_id=target, stop_return=None)
        said = "the pong preset's Atari settings"
    else:
        cfg, said = DQNConfig(env_id=target), "DQN's defaults (DQNConfig)"
    shown = ", ".join(f"{k}={getattr(cfg, k)}" for k in (
        "total_steps", "lr", "buffer_size", "batch_size", "learn_start", "train_freq", "target_sync",
        "eps_schedule", "eps_decay", "eps_final"))
    note = f"no preset given: using {said}: {shown} (`deepq presets` lists tuned ones; change any with --set)"
    return target.rpartition(":")[2].replace("/", "-"), presets.Preset("dqn", said, cfg), note


def _env_modules(values: dict, extra: list[str] | None) -> tuple[str, ...]:
    """``env_modules`` as --set/--config give it, then each --env-module."""
    given = config.override(DQNConfig(), {"env_modules": values["env_modules"]}).env_modules \
        if "env_modules" in values else ()
    return tuple(given) + tuple(extra or ())


def cmd_train(args: argparse.Namespace) -> int:
    progress = not args.no_progress
    if args.resume:
        if args.target or args.set or args.config or args.env_module or args.seed is not None:
            raise DeepQError("--resume continues a run with its saved config; "
                             "only --steps and --allow-inexact may be given with it")
        run_dir = Path(args.resume)
        overrides = {"total_steps": args.steps} if args.steps else None
        algorithm = _algorithm_for_checkpoint(run_dir)
        model = algorithm.load(run_dir, run_dir=run_dir, overrides=overrides, progress=progress,
                               allow_inexact=args.allow_inexact)
        print(f"resuming {run_dir} at step {model.step:,} of {model.cfg.total_steps:,}; restored "
              + ", ".join(model.restored)
              + (f"; not restored: {', '.join(model.not_restored)}" if model.not_restored else ""),
              file=sys.stderr)
    else:
        if not args.target:
            raise DeepQError("train needs a PRESET or ENV_ID (see `deepq presets`), or --resume RUN_DIR")
        values: dict = {}
        if args.config:
            values |= config.load_toml(args.config)
        values |= config.parse_set(args.set or [])
        if args.steps is not None:
            values["total_steps"] = args.steps
        if args.seed is not None:
            values["seed"] = args.seed
        modules = _env_modules(values, args.env_module)
        if modules:
            values["env_modules"] = list(modules)
        name, preset, note = _base_preset(args.target, modules)
        cfg = config.override(preset.config, values)
        wanted = Path(args.run_dir) if args.run_dir else None
        made = [d for d in (wanted, *wanted.parents) if not d.exists()] if wanted else []
        run_dir = log.new_run_dir(f"{name}-seed{cfg.seed}", wanted)  # fails now, not at a save
        made = made if wanted else [run_dir]
        if (run_dir / "checkpoints" / "latest").exists():
            raise DeepQError(f"{run_dir} already holds a run; continue it with "
                             f"`deepq train --resume {run_dir}` or choose another --run-dir")
        _set_aside_unfinished(run_dir)
        try:
            model = ALGORITHMS[preset.algorithm](cfg, run_dir=run_dir, progress=progress)
        except BaseException:
            for d in made:  # leave nothing behind for a run that never started
                try:
                    d.rmdir()
                except OSError:
                    break
            raise
        if note:  # said once the environment is known to work
            print(note, file=sys.stderr)
        print(f"training {cfg.env_id} for {cfg.total_steps:,} steps → {run_dir}", file=sys.stderr)
    backend = f" ({model.cfg.backend})" if model.cfg.backend != "torch" else ""
    print(f"network{backend}: {networks.describe(model.q_net)} on observations {list(model.obs_shape)} "
          f"{model.obs_dtype}", file=sys.stderr)
    solved = model.learn()
    recent = model.episode_returns[-model.cfg.stop_window:]
    summary = f"done: step {model.step:,}, {model.update:,} updates, {model.wall_time:.0f} s"
    if recent:
        summary += f", mean return of last {len(recent)} episodes {sum(recent) / len(recent):.2f}"
    if model.last_eval is not None:
        summary += f", last evaluation {model.last_eval:.2f}"
    print(summary + (" (stop criterion met)" if solved else ""), file=sys.stderr)
    print(f"run directory: {run_dir}", file=sys.stderr)
    # a stopped run is not a finished one: 128 + the signal, as a shell reports it
    return 128 + model.interrupted if model.interrupted else 0


def _set_aside_unfinished(run_dir: Path) -> None:
    """A run killed before its first checkpoint left files but nothing to resume: move
    them into ``run_dir/unfinished-<time>/`` so a fresh start never overwrites them."""
    leftovers = [p for p in run_dir.iterdir() if not p.name.startswith("unfinished-")] \
        if run_dir.is_dir() else []
    if not leftovers:
        return
    aside = run_dir / f"unfinished-{time.strftime('%Y%m%d-%H%M%S')}"
    aside.mkdir()
    for p in leftovers:
        p.rename(aside / p.name)
    print(f"{run_dir} held a run stopped before its first checkpoint; its files are kept in {aside}",
          file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> int:
    overrides = config.parse_set(args.set or [])
    if args.protocol:
        overrides["eval_protocol"] = args.protocol
    model = _algorithm_for_checkpoint(args.path).load(args.path, replay=False, tensorboard=False,
                                                      overrides=overrides)
    env = None
    if args.video:
        from gymnasium.wrappers import RecordVideo

        cfg = model.cfg
        env = envs.for_evaluation(cfg, render_mode="rgb_array")
        env.metadata["render_fps"] = 15 if envs.is_atari(cfg.env_id, cfg.env_modules) else env.metadata.get("render_fps", 30)
        env = RecordVideo(env, args.video, episode_trigger=lambda e: True, disable_logger=True)
    returns = model.evaluate(args.episodes, epsilon=args.eps, env=env)
    if env is not None:
        env.close()
    mean = sum(returns) / len(returns)
    std = (sum((r - mean) ** 2 for r in returns) / len(returns)) ** 0.5
    se = std / (len(returns) - 1) ** 0.5 if len(returns) > 1 else float("nan")  # of the mean
    where = (envs.machado_id(model.cfg.env_id) + " (Machado et al. 2018: sticky actions 0.25, "
             "full action set, 108,000-frame cap)") if model.cfg.eval_protocol == "machado" \
        else model.cfg.env_id
    print(f"{where} at step {model.step:,}: mean return {mean:.2f} ± {std:.2f} (std; "
          f"s.e. {se:.2f}) over {len(returns)} episodes "
          f"(ε = {model.eval_epsilon() if args.eps is None else args.eps:g})")
    print("returns: " + " ".join(f"{r:g}" for r in returns))
    if args.video:
        print(f"videos: {args.video}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from deepq import plot

    runs = [Path(r) for r in args.runs]
    for r in runs:
        if not r.is_dir():
            raise DeepQError(f"no such run directory: {r}")
    out = Path(args.out) if args.out else (runs[0] / "plot.png" if len(runs) == 1 else Path("plot.png"))
    plot.plot_runs(runs, out)
    print(f"wrote {out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from deepq import compare

    runs = [Path(r) for r in args.runs]
    for r in runs:
        if not r.is_dir():
            raise DeepQError(f"no such run directory: {r}")
    groups = compare.group_runs(runs)
    out = compare.plot_compare(groups, Path(args.out), args.band, args.threshold, args.curve)
    print(compare.table(groups, args.threshold, args.curve))
    print(f"wrote {out}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    if args.show is not None:
        preset = presets.get(args.show)
        if preset is None:
            raise DeepQError(f"unknown preset '{args.show}'; `deepq presets` lists them")
        print(f"{args.show}: {preset.description}")
        for k, v in config.to_dict(preset.config).items():
            print(f"  {k} = {v!r}")
        return 0
    width = max(len(n) for n in presets.PRESETS)
    for name, preset in presets.PRESETS.items():
        print(f"{name:<{width}}  {preset.description}")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from deepq.lab.cli import main as lab_main  # the lab builds on the core, never the reverse

    return lab_main(args.lab_args)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage mistakes are one line, like every other deepq error
    (argparse would print the usage first); its sub-parsers are of this class too."""

    def error(self, message: str):
        # " ".join: argparse quotes some arguments as typed, line breaks included
        raise DeepQError(" ".join(f"{message} (see `{self.prog} --help`)".splitlines()))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="deepq", description="Deep Q-learning from the command line.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a preset or an environment id",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="config keys (--set KEY=VALUE, or a TOML file of KEY = VALUE):\n"
                              + config.describe(DQNConfig)
                              + "\n\nC51, QR-DQN, IQN, Munchausen and Rainbow presets have their own "
                                "keys: `deepq presets --show NAME` lists them.")
    t.add_argument("target", nargs="?", help="preset name (see `deepq presets`) or Gymnasium env id")
    t.add_argument("--steps", type=int, help="total environment steps (overrides total_steps)")
    t.add_argument("--seed", type=int, help="random seed")
    t.add_argument("--run-dir", help="output directory (default runs/NAME-seedS-TIME)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    t.add_argument("--config", help="TOML file of config overrides")
    t.add_argument("--env-module", action="append", metavar="MODULE[:FUNCTION]",
                   help="import MODULE (and call FUNCTION) before the environment id is looked "
                        "up; adds to env_modules")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    t.add_argument("--allow-inexact", action="store_true",
                   help="with --resume: continue even if the checkpoint lacks a part of the run "
                        "(optimizer, replay, RNG, environment actions); the run records it")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a run's latest checkpoint")
    e.add_argument("path", help="run directory or checkpoint directory")
    e.add_argument("--episodes", type=int, default=10, help="episodes to play (default 10)")
    e.add_argument("--eps", type=float, help="ε during evaluation (default: the run's eval_eps, "
                   "or its final training ε)")
    e.add_argument("--protocol", choices=("train", "machado"),
                   help="evaluation environment (default: the run's eval_protocol): train = as "
                        "trained; machado = Machado et al. 2018 (Atari: ALE/GAME-v5, sticky "
                        "actions 0.25, full action set, 108,000-frame cap)")
    e.add_argument("--video", metavar="DIR", help="write an MP4 of each episode to DIR")
    e.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config key of the saved run for this evaluation, e.g. "
                        "backend=tensorflow (a checkpoint of either backend loads in the other)")
    e.set_defaults(func=cmd_evaluate)

    pl = sub.add_parser("plot", help="PNG of episode return and loss vs steps, runs overlaid")
    pl.add_argument("runs", nargs="+", help="run directories")
    pl.add_argument("--out", help="output PNG (default RUN_DIR/plot.png for one run, else plot.png)")
    pl.set_defaults(func=cmd_plot)

    cp = sub.add_parser("compare", help="PNG of mean return ± band over seeds, one line per "
                        "variant, and a table of steps to reach a return")
    cp.add_argument("runs", nargs="+", help="run directories; runs named NAME-sSEED (or "
                    "NAME-seedS…) are grouped as seeds of NAME")
    cp.add_argument("--out", default="compare.png", help="output PNG (default compare.png)")
    cp.add_argument("--threshold", type=float, default=475.0,
                    help="return for the steps-to-reach table (default 475)")
    cp.add_argument("--band", choices=("std", "minmax"), default="std",
                    help="shaded band: ± one standard deviation, or min to max (default std)")
    cp.add_argument("--curve", choices=("eval", "train"), default="eval",
                    help="what is plotted and held to the threshold: evaluation returns (default), "
                    "or the mean of the last 10 training episodes (the stop_on=train criterion)")
    cp.set_defaults(func=cmd_compare)

    ps = sub.add_parser("presets", help="list presets, one line each")
    ps.add_argument("--show", metavar="NAME", help="print every config value of one preset")
    ps.set_defaults(func=cmd_presets)

    lab = sub.add_parser("lab", add_help=False,
                         help="value-function-approximation experiments (`deepq lab --help`)")
    lab.add_argument("lab_args", nargs=argparse.REMAINDER)
    lab.set_defaults(func=cmd_lab)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["lab"]:  # argparse's REMAINDER would not pass a leading "--help" through
        return cmd_lab(argparse.Namespace(lab_args=argv[1:]))
    try:
        args = build_parser().parse_args(argv)
        # checked here so that `--resume RUN --steps 0` is refused too
        for flag in ("steps", "episodes"):
            value = getattr(args, flag, None)
            if value is not None and value < 1:
                raise DeepQError(f"--{flag} must be at least 1; got {value}")
        with warnings.catch_warnings():
            warnings.simplefilter("always", DeepQWarning)
            warnings.showwarning = _one_line_warning
            return args.func(args)
    except DeepQError as e:
        # one line even where a message quotes user input holding a newline
        print("deepq: error: " + " ".join(str(e).splitlines()), file=sys.stderr)
        return 2
    except OSError as e:  # a file-system fault outside a checkpoint (a log row, a plot)
        print(f"deepq: error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepq: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = " ".join(str(message).splitlines())
    print(f"deepq: {'warning' if issubclass(category, DeepQWarning) else category.__name__}: {text}",
          file=sys.stderr)
