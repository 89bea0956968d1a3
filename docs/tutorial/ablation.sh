#!/usr/bin/env bash
# What experience replay and the target network are each worth, on CartPole-v1: the
# `cartpole` preset (DQN), without replay (a memory as small as one batch: each update
# learns from the 64 newest transitions), without a target network (synced every
# environment step, so the bootstrap uses the network being trained), and without
# either; seeds 0, 1, 2; 50,000 steps each, stopping early at an evaluation mean of 475.
# Two runs at a time, one torch thread each; then `deepq compare` prints the table and
# draws docs/tutorial/ablation.png.
# Usage: docs/tutorial/ablation.sh [OUT_DIR]   (default runs/ablation)
set -euo pipefail
out=${1:-runs/ablation}
mkdir -p "$out"
for variant in dqn no-replay no-target neither; do
  for seed in 0 1 2; do echo "$variant $seed"; done
done | xargs -P 2 -L 1 bash -c 'case "$0" in
    dqn) sets=();;
    no-replay) sets=(--set buffer_size=64);;
    no-target) sets=(--set target_sync=1);;
    neither) sets=(--set buffer_size=64 --set target_sync=1);;
  esac
  run='"$out"'/$0-s$1; rm -rf "$run"
  deepq train cartpole --seed "$1" --set speed.threads=1 "${sets[@]}" --run-dir "$run" \
    --no-progress > "$run.log" 2>&1 && echo "done $run" || echo "FAILED $run"'
deepq compare "$out"/dqn-s? "$out"/no-replay-s? "$out"/no-target-s? "$out"/neither-s? \
  --threshold 475 --out docs/tutorial/ablation.png
