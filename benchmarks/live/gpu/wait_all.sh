#!/usr/bin/env bash
# The last call (see README.md): wait at most $1 seconds for every job, then collect what is done.
set -uo pipefail
source benchmarks/live/gpu/common.sh
deadline=$((SECONDS + $1))
while pgrep -f "$JOBS" > /dev/null && [ $SECONDS -lt $deadline ]; do sleep 5; done
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
collect
