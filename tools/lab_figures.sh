#!/usr/bin/env bash
# Regenerate the lab figures in docs/lab/ (the tutorial's figures): each of the five
# experiments at full size, seed 0, then its PNG copied over the committed one.
# About 15 minutes on 2 CPU cores. Extra arguments go to every experiment, e.g.
#   bash tools/lab_figures.sh --runs 2        (quicker, noisier figures)
# DEEPQ (default: deepq on PATH, else .venv/bin/deepq) and OUT (default runs/lab-figures)
# can be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
DEEPQ=${DEEPQ:-$(command -v deepq || echo .venv/bin/deepq)}
OUT=${OUT:-runs/lab-figures}
for name in random-walk mountain-car baird triad convergence; do
  "$DEEPQ" lab "$name" --seed 0 --run-dir "$OUT/$name" --no-progress "$@"
  cp "$OUT/$name/$name.png" "docs/lab/$name.png"
done
