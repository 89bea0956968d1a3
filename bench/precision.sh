#!/usr/bin/env bash
# bf16 vs fp32 updates learn the same: CartPole (3 seeds each, forced precision) and a
# short Pong run (loss curves), compared with `deepq compare` / `deepq plot`.
#   bash bench/precision.sh [OUT_DIR]        (~25 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/precision}
deepq=.venv/bin/deepq
for p in fp32 bf16; do
  for s in 1 2 3; do
    $deepq train cartpole --seed "$s" --no-progress --set precision=$p --run-dir "$out/cartpole-$p-s$s"
  done
done
$deepq compare "$out"/cartpole-fp32-s* "$out"/cartpole-bf16-s* --out "$out/cartpole.png"
for p in fp32 bf16; do
  $deepq train pong --steps 12000 --seed 1 --no-progress --set precision=$p --set learn_start=2000 \
    --set log_every=250 --set eval_every=0 --set checkpoint_every=0 --run-dir "$out/pong-$p"
done
$deepq plot "$out/pong-fp32" "$out/pong-bf16" --out "$out/pong.png"
