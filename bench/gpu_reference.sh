#!/usr/bin/env bash
# The grid of one profile (default `small`) on one GPU, through the `lskd train` CLI.
# Seed s trains its own teachers, as the chapters do. The profile's models are
# small enough to leave the GPU mostly idle, so the independent (alpha, seed)
# sweeps run side by side as separate processes.
# Every run checkpoints each epoch: run this again after an interruption.
#   PROFILE=small SEEDS="0 1 2" bash bench/gpu_reference.sh
set -euo pipefail
LSKD=${LSKD:-lskd}
PROFILE=${PROFILE:-small}
ALPHAS=${ALPHAS:-"0 0.1"}
SEEDS=${SEEDS:-"0 1 2"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} LSKD_PROGRESS=0

run_all() {  # run each argument line as a command in the background; fail if any fails
  local pids=() rc=0
  while read -r line; do [ -n "$line" ] && { $LSKD $line > /dev/null & pids+=($!); }; done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}
start=$(date +%s)
# The students trained alone on the labels (the distillation gate's baseline) need no teacher: beside them.
{ for a in $ALPHAS; do for s in $SEEDS; do echo "train teacher --profile $PROFILE --alpha $a --seed $s"; done; done
  for s in $SEEDS; do echo "train alone --profile $PROFILE --seed $s"; done; } | run_all
echo "teachers and students alone: $(( $(date +%s) - start )) s"
for a in $ALPHAS; do for s in $SEEDS; do echo "train students --profile $PROFILE --alpha $a --seed $s"; done; done | run_all
echo "grid: $(( $(date +%s) - start )) s"
