#!/usr/bin/env bash
# A call that carries one more part of a model (see README.md): keep it, report progress.
set -uo pipefail
source benchmarks/live/gpu/common.sh
cp "$1" /root/stash/ && ls /root/stash | tr '\n' ' ' && echo
[ -d /root/work ] && progress
exit 0
