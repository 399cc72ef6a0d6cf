#!/usr/bin/env bash
# Write a CPU reference profile's records once its shards are merged: every image chapter with its
# defaults (so the records describe the defaults), in two lanes of one thread, then the export.
#
#   bench/reference_records.sh PROFILE CACHE SHARD [SHARD ...]
#   e.g. bench/reference_records.sh base /work/base-cache results/cache/base-s0-4 results/cache/base-s5-9
#
# The chapters find every run in CACHE (merged from the shards; a missing run would train here).
# Run it from a clean checkout at or after the registration commit: every record carries the
# commit it was made by (tests/test_preregistration.py).
set -euo pipefail
[ $# -ge 3 ] || { echo "error: usage: $0 PROFILE CACHE SHARD [SHARD ...]" >&2; exit 2; }
profile=$1 cache=$2; shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${LSKD_VENV:-$here/.venv}/bin
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" LSKD_CACHE=$cache LSKD_CPUS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
"$bin/lskd" runs merge "$@"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
lane() {
  for ch in "$@"; do
    echo "[records $profile] $(date +%H:%M:%S) $ch"
    "$bin/lskd" run "$here/notebooks/$ch.md" -p profile "$profile" -o "$out/$ch.ipynb" -q
  done
}
lane 03_student_grid 05_diffusion 04_penultimate 01_ls_and_kd & a=$!
lane 07_classwise_and_alpha 06_teacher_targets 12_feature_kd 13_deviations 02_teachers & b=$!
fail=0; wait $a || fail=1; wait $b || fail=1
[ $fail = 0 ] || { echo "error: a chapter failed (above); nothing exported" >&2; exit 1; }
"$bin/lskd" runs export --profile "$profile"
echo "[records $profile] $(date +%H:%M:%S) done"
