#!/usr/bin/env bash
# The `small` translation grid on one GPU, through the `lskd nmt grid` CLI:
# 2 teachers, then 24 students (T = 1, 2, 3, 64; seeds 0-2) run JOBS at a
# time on the one device. Each model is cached on its own, so running this
# again after an interruption redoes only what was not finished.
#   JOBS=12 DEST=results/nmt bash bench/gpu_nmt.sh
set -euo pipefail
LSKD=${LSKD:-lskd}
$LSKD nmt prepare --profile small
$LSKD nmt grid --profile small --seeds 0 1 2 --temperatures 1 2 3 64 --jobs "${JOBS:-12}" --export "${DEST:-results/nmt}"
