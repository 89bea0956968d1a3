#!/usr/bin/env bash
# bf16 vs fp32 updates learn the same: CartPole (10 seeds each, forced precision) and a
# short Pong run (loss curves), compared with `deepq compare` / `deepq plot`. Three
# configurations: fp32; bf16 autocast with fused Adam (speed.master_adam=off); bf16
# through MasterAdam's bf16 copy and compiled optimizer kernel (speed.master_adam=on,
# what `auto` picks for CPU runs of 100k steps or more, e.g. the pong presets).
#   bash bench/precision.sh [OUT_DIR]        (~30 minutes on 2 cores)
#   SEEDS="1 2 3" bash bench/precision.sh   (fewer CartPole seeds)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/precision}
deepq=.venv/bin/deepq
declare -A settings=(
  [fp32]="--set speed.precision=fp32"
  [bf16]="--set speed.precision=bf16 --set speed.master_adam=off"
  [bf16-master]="--set speed.precision=bf16 --set speed.master_adam=on"
)
variants=(fp32 bf16 bf16-master)
read -r -a seeds <<< "${SEEDS:-1 2 3 4 5 6 7 8 9 10}"
for v in "${variants[@]}"; do
  for s in "${seeds[@]}"; do
    # shellcheck disable=SC2086  # the settings split into separate --set arguments
    $deepq train cartpole --seed "$s" --no-progress ${settings[$v]} --run-dir "$out/cartpole-$v-s$s"
  done
done
$deepq compare "$out"/cartpole-fp32-s* "$out"/cartpole-bf16-s* "$out"/cartpole-bf16-master-s* \
  --out "$out/cartpole.png"
for v in "${variants[@]}"; do
  # shellcheck disable=SC2086
  $deepq train pong --steps 12000 --seed 1 --no-progress ${settings[$v]} --set learn_start=2000 \
    --set log_every=250 --set eval_every=0 --set checkpoint_every=0 --run-dir "$out/pong-$v"
done
$deepq plot "$out/pong-fp32" "$out/pong-bf16" "$out/pong-bf16-master" --out "$out/pong.png"
