"""``deepq lab NAME [--runs N] [--seed S] [--set KEY=VALUE ...] [--config FILE.toml]
[--run-dir D] [--no-progress]``: parsing and dispatch only."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from deepq import config, log
from deepq.errors import DeepQError
from deepq.lab import baird, convergence, mountain_car, random_walk, triad

# name → (module, its config class, what it shows, the config field --runs sets)
EXPERIMENTS = {
    "random-walk": (random_walk, random_walk.RandomWalkConfig, "1000-state random walk: oracle regression, "
                    "gradient MC, semi-gradient TD, n-step TD (S&B Figs. 9.1, 9.2)", "runs"),
    "mountain-car": (mountain_car, mountain_car.MountainCarConfig, "tile-coded semi-gradient Sarsa, one-step "
                     "and n-step (S&B Figs. 10.1-10.4)", "runs"),
    "baird": (baird, baird.BairdConfig, "Baird's counterexample: off-policy TD and DP diverge, TDC and ETD "
              "do not (S&B Figs. 11.2, 11.5, 11.6)", "runs"),
    "triad": (triad, triad.TriadConfig, "the deadly triad as a grid: approximator x MC/TD x on/off-policy",
              "seeds"),
    "convergence": (convergence, convergence.ConvergenceConfig, "the convergence tables for prediction and "
                    "control, from runs", "seeds"),
}


def _sets(cfg_cls: type, key: str) -> str:
    """Help of an option that sets config field ``key``: its doc and default."""
    field = next(f for f in dataclasses.fields(cfg_cls) if f.name == key)
    return f"{field.metadata['doc']}: sets {key} (default {field.default})"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepq lab", description="Value-function-approximation experiments. "
                                "Each writes NAME.png, NAME.csv and config.json to its run directory.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="experiments (full-size wall time on a 2-core CPU):\n" + "\n".join(
                                    f"  {n:<13} {m[2]} [{m[0].FULL_TIME}]" for n, m in EXPERIMENTS.items()))
    sub = p.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, (module, cfg_cls, what, runs_key) in EXPERIMENTS.items():
        e = sub.add_parser(name, help=what, description=f"{what}. Full size takes {module.FULL_TIME} "
                           f"on a 2-core CPU.\n\n{module.__doc__}",
                           epilog="config keys (--set KEY=VALUE, or KEY = VALUE lines in --config "
                           "FILE.toml):\n" + config.describe(cfg_cls),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        e.add_argument("--runs", type=int, help=_sets(cfg_cls, runs_key))
        e.add_argument("--seed", type=int, help=_sets(cfg_cls, "seed"))
        e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (repeatable; the keys are listed below)")
        e.add_argument("--config", metavar="FILE.toml", help="config overrides from a TOML file of "
                       "KEY = VALUE lines (--set, --runs and --seed win over it)")
        e.add_argument("--run-dir", help="output directory (default runs/lab-NAME-<time>)")
        e.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed its usage line or --help
        return int(e.code or 0) and 2
    try:
        if args.runs is not None and args.runs < 1:
            raise DeepQError("--runs must be at least 1")
        module, cfg_cls, _, runs_key = EXPERIMENTS[args.name]
        values = config.load_toml(args.config) if args.config else {}
        values |= config.parse_set(args.set)
        if args.runs is not None:
            values[runs_key] = args.runs
        if args.seed is not None:
            values["seed"] = args.seed
        cfg = config.override(cfg_cls(), values)
        out = log.new_run_dir(f"lab-{args.name}", args.run_dir)
        log.write_config(out, cfg)
        start = time.time()
        module.run(cfg, out=out, show_progress=not args.no_progress)
        print(f"{args.name}: wrote {out / (args.name + '.png')} and {out / (args.name + '.csv')} "
              f"in {time.time() - start:.0f} s")
        return 0
    except DeepQError as e:
        print(f"deepq lab: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"deepq lab: error: {e}", file=sys.stderr)
        return 2
