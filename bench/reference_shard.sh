#!/usr/bin/env bash
# Train the runs of a CPU reference profile for some seeds into a run cache of their own (a shard).
#
#   bench/reference_shard.sh PROFILE CACHE SEED [SEED ...]
#   e.g. bench/reference_shard.sh base results/cache/base-s0-4 0 1 2 3 4
#
# Why: a 10-seed `base` outlasts one working block, and the next block may be on another machine.
# Each block trains some seeds into its own cache and commits it; `lskd runs merge` then unites
# the shards, and the chapters, run with their defaults, find every run there and write the records
# (README, "Reference runs longer than one sitting"). The chapters listed are the ones that train
# (the others only read these runs); a chapter cut short is trained again on the next call, since
# a finished run is served from the cache and an unfinished one restarts from its checkpoint.
# One thread per shard, so two shards share 2 cores.
set -euo pipefail
[ $# -ge 3 ] || { echo "error: usage: $0 PROFILE CACHE SEED [SEED ...]" >&2; exit 2; }
profile=$1 cache=$2; shift 2
for s in "$@"; do [[ $s =~ ^[0-9]+$ ]] || { echo "error: seed $s is not a non-negative integer" >&2; exit 2; }; done
seeds="[$(IFS=,; echo "$*")]"
here=$(cd "$(dirname "$0")/.." && pwd)
# The package and chapters of this folder, not whichever copy the virtual environment names: a
# shard may run from a snapshot of the repository while the working tree changes.
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export LSKD_CACHE=$cache LSKD_CPUS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for ch in 02_teachers 03_student_grid 07_classwise_and_alpha 06_teacher_targets 12_feature_kd 13_deviations; do
  echo "[shard $cache] $(date +%H:%M:%S) $ch, seeds $seeds"
  "${LSKD_VENV:-$here/.venv}/bin/lskd" run "$here/notebooks/$ch.md" -p profile "$profile" -p seeds "$seeds" -o "$out/$ch.ipynb" -q
done
echo "[shard $cache] $(date +%H:%M:%S) done"
