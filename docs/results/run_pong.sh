#!/usr/bin/env bash
# Train the pong-quick preset on seeds 0, 1, 2 into runs/pong/pong-quick-sSEED, two runs at
# a time with one torch thread each (as measured in docs/results.md: a seed's wall time is
# with another seed beside it); evaluate each final agent on 30 episodes under each
# protocol; write the episodes CSVs and the plot under docs/results/; print each seed's
# steps and wall time to a training mean-10 ≥ 19 (deepq compare --curve train's table).
# Usage: docs/results/run_pong.sh [SEED ...]   (default: 0 1 2)
set -euo pipefail
seeds=("$@")
[ ${#seeds[@]} -eq 0 ] && seeds=(0 1 2)
mkdir -p runs/pong
printf '%s\n' "${seeds[@]}" | xargs -P 2 -I{} bash -c 'out=runs/pong/pong-quick-s{};
  if [ -f "$out/checkpoints/latest" ]; then cmd=(deepq train --resume "$out");
  else cmd=(deepq train pong-quick --seed {} --set speed.threads=1 --run-dir "$out"); fi
  "${cmd[@]}" --no-progress >> "$out.log" 2>&1 && echo "done $out" || echo "FAILED $out"'
for seed in "${seeds[@]}"; do
  run=runs/pong/pong-quick-s$seed
  for protocol in train machado; do
    deepq evaluate "$run" --episodes 30 --protocol "$protocol" | head -2
  done
  python - "$run" "docs/results/pong-quick-s$seed-episodes.csv" <<'PY'
import csv, sys
rows = csv.DictReader(open(f"{sys.argv[1]}/metrics.csv"))
keep = ["step", "wall_time", "event", "episode_return", "episode_length", "eval_return"]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(keep)
    kept = [r for r in rows if r["event"] in ("episode", "eval")]
    w.writerows([r[k] for k in keep] for r in kept)
PY
done
# The plot also draws the uniform-replay seeds of docs/results.md when they are there:
# deepq train pong-quick --seed S --set prioritized=false --set adam_eps=1e-8 \
#     --set speed.threads=1 --run-dir runs/pong/pong-quick-uniform-sS
shopt -s nullglob
deepq compare runs/pong/pong-quick-s? runs/pong/pong-quick-uniform-s? --curve train --threshold 19 \
  --band minmax --out docs/results/pong-quick.png
