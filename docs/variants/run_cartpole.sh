#!/usr/bin/env bash
# Train each variant's CartPole preset on seeds 0, 1, 2, two runs at a time, one torch
# thread each, into runs/variants/VARIANT-sSEED; then `deepq compare` prints the table
# and draws docs/variants/cartpole-dqn-options.png and cartpole-algorithms.png.
# Usage: docs/variants/run_cartpole.sh [VARIANT ...]   (default: all; the figures need all)
set -euo pipefail
mkdir -p runs/variants
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(dqn double dueling noisy nstep per c51 qrdqn iqn munchausen rainbow)
for v in "${variants[@]}"; do
  preset="$v-cartpole"; [ "$v" = dqn ] && preset=cartpole
  for seed in 0 1 2; do echo "$preset $v $seed"; done
done | xargs -P 2 -L 1 bash -c 'out=runs/variants/$1-s$2; rm -rf "$out";
  deepq train "$0" --seed "$2" --set speed.threads=1 --run-dir "$out" --no-progress > "$out.log" 2>&1 \
  && echo "done $out" || echo "FAILED $out"'
cd runs/variants
deepq compare {dqn,double,dueling,noisy,nstep,per,c51,qrdqn,iqn,munchausen,rainbow}-s? --out all.png
deepq compare {dqn,double,dueling,noisy,nstep,per}-s? --out ../../docs/variants/cartpole-dqn-options.png
deepq compare {dqn,c51,qrdqn,iqn,munchausen,rainbow}-s? --out ../../docs/variants/cartpole-algorithms.png
