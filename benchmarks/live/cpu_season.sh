#!/usr/bin/env bash
# The second season's remaining work on this 2-core CPU machine, one job at a time (two training jobs at once
# made training 8x slower): each case's candidates (a new case's evaluation budget then set by the rule, before
# any run), its ground truth and its selectors; then, for every case, the adaptive selector under 16, 32 and 64
# fine-tune steps (benchmarks/adaptive_live.py: its quality against budget). Every stage resumes from the committed files and
# ends at once when they are complete, so after a kill run it again. It commits nothing: commit each finished
# run as it lands.
#
#   setsid nohup benchmarks/live/cpu_season.sh > /tmp/season.log 2>&1 &
#   tail -f /tmp/season.log /tmp/season-*.log   # progress; `pkill -STOP -f "stylefit bench live|adaptive_live.py"` pauses (-CONT resumes)
set -uo pipefail
cd "$(dirname "$0")/../.."
STYLEFIT=${STYLEFIT:-.venv/bin/stylefit}
PYTHON=${PYTHON:-.venv/bin/python}
CASES=${CASES:-"number_sorting-smollm2 products-smollm2-no_solution basic_arithmetic-smollm2 family_relationships-gemma word_sequence_reversal-gemma family_relationships-qwen"}

logged() {  # label, log file, command...: runs the command with its output in the log; false on failure
    local label=$1 log=$2
    shift 2
    echo "$(date -u +%FT%TZ) $label (log: $log)"
    if ! "$@" > "$log" 2>&1 < /dev/null; then
        echo "$(date -u +%FT%TZ) $label failed: $(tail -n 1 "$log")"
        return 1
    fi
}

stage() {  # case, stage: one stage of one case, logged to /tmp/season-<case>-<stage>.log
    logged "$1 $2" "/tmp/season-$1-$2.log" "$STYLEFIT" bench live benchmarks/live/live.toml --case "$1" --stage "$2"
}

for case in $CASES; do
    stage "$case" candidates || continue
    # a new case's budget by the rule, before its first run (a case with one already is left as it is)
    "$PYTHON" benchmarks/live/set_eval_budget.py --unless-set "$case" || continue
    stage "$case" truth || continue
    stage "$case" selectors || continue
done
# the adaptive budget sweep last: it judges nothing of the season, so it waits for every case's judged stages
for case in $CASES; do
    logged "$case adaptive budgets" "/tmp/season-$case-adaptive.log" "$PYTHON" benchmarks/adaptive_live.py --run-only \
        --case "$case" --budget-steps 16 --budget-steps 32 --budget-steps 64 || true
done
echo "$(date -u +%FT%TZ) done"
