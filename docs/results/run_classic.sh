#!/usr/bin/env bash
# Train the classic-control presets (acrobot, mountaincar, lunarlander) on seeds 0, 1, 2,
# two runs at a time, one torch thread each, into runs/classic/PRESET-sSEED; evaluate
# each final agent on 100 greedy episodes; print the steps-to-threshold tables and draw
# docs/results/PRESET.png. LunarLander needs the box2d extra (pip install -e ".[box2d]").
# Usage: docs/results/run_classic.sh [PRESET ...]   (default: all three)
set -euo pipefail
presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(acrobot mountaincar lunarlander)
mkdir -p runs/classic
for p in "${presets[@]}"; do
  for seed in 0 1 2; do echo "$p $seed"; done
done | xargs -P 2 -L 1 bash -c 'out=runs/classic/$0-s$1; rm -rf "$out";
  deepq train "$0" --seed "$1" --set speed.threads=1 --run-dir "$out" --no-progress > "$out.log" 2>&1 \
  && echo "done $out" || echo "FAILED $out"'
declare -A threshold=([acrobot]=-100 [mountaincar]=-110 [lunarlander]=200)
for p in "${presets[@]}"; do
  for seed in 0 1 2; do deepq evaluate runs/classic/$p-s$seed --episodes 100 | head -1; done
  deepq compare runs/classic/$p-s? --threshold "${threshold[$p]}" --out docs/results/$p.png
done
