"""``deepq lab NAME [--runs N] [--seed S] [--run-dir D]``: parsing and dispatch only."""

from __future__ import annotations

import argparse
import sys
import time

from deepq.errors import DeepQError
from deepq.lab import baird, common, convergence, mountain_car, random_walk, triad

# name → (module, what it shows, what --runs counts, the module's full-size --runs default)
EXPERIMENTS = {
    "random-walk": (random_walk, "1000-state random walk: oracle regression, gradient MC, semi-gradient TD, "
                    "n-step TD (S&B Figs. 9.1, 9.2)", "runs of the left panel", random_walk.FULL_RUNS),
    "mountain-car": (mountain_car, "tile-coded semi-gradient Sarsa, one-step and n-step "
                     "(S&B Figs. 10.1-10.4)", "runs per step size", mountain_car.FULL_RUNS),
    "baird": (baird, "Baird's counterexample: off-policy TD and DP diverge, TDC and ETD do not "
              "(S&B Figs. 11.2, 11.5, 11.6)", "runs of the sampled methods", baird.FULL_RUNS),
    "triad": (triad, "the deadly triad as a grid: approximator x MC/TD x on/off-policy",
              "random initial weights per cell", triad.FULL_SEEDS),
    "convergence": (convergence, "the convergence tables for prediction and control, from runs",
                    "seeds per cell", convergence.FULL_SEEDS),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepq lab", description="Value-function-approximation experiments. "
                                "Each writes NAME.png and NAME.csv to its run directory.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="experiments (full-size wall time on a 2-core CPU):\n" + "\n".join(
                                    f"  {n:<13} {m[1]} [{m[0].FULL_TIME}]" for n, m in EXPERIMENTS.items()))
    sub = p.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, (module, what, runs_help, default_runs) in EXPERIMENTS.items():
        e = sub.add_parser(name, help=what, description=f"{what}. Full size takes {module.FULL_TIME} "
                           f"on a 2-core CPU.\n\n{module.__doc__}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        e.add_argument("--runs", type=int, default=default_runs, help=f"{runs_help} (default {default_runs})")
        e.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
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
        if args.runs < 1:
            raise DeepQError("--runs must be at least 1")
        module = EXPERIMENTS[args.name][0]
        out = common.run_dir(args.name, args.run_dir)
        start = time.time()
        kwargs = {"seeds" if args.name in ("triad", "convergence") else "runs": args.runs}
        module.run(seed=args.seed, out=out, show_progress=not args.no_progress, **kwargs)
        print(f"{args.name}: wrote {out / (args.name + '.png')} and {out / (args.name + '.csv')} "
              f"in {time.time() - start:.0f} s")
        return 0
    except DeepQError as e:
        print(f"deepq lab: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"deepq lab: error: {e}", file=sys.stderr)
        return 2
