#!/usr/bin/env bash
# One case's jobs on the GPU machine, in the background, for at most $2 seconds: its ground truth,
# its proxies, its scoring selectors and the adaptive selector, niced in that order (what the lease
# leaves undone runs on the CPU machine). With CANDIDATES=1 its candidates are written first (strategies
# already committed are kept) and its evaluation budget set by the rule if it has none, and the jobs start when they are.
set -uo pipefail
source benchmarks/live/gpu/common.sh
case=$1 limit=$2
# the two fine-tuning selectors in separate jobs (they share no runs); a case whose runs and scores are
# all committed plans nothing and ends at once
PROXIES=("proxy-paper" "proxy proxy-gold_loss")
SCORING="ppl ifd sppl sppl-paper sppl-exclude-own rsr local length alignment-hidden_cosine alignment-rouge_l alignment-token_f1 grace"
cd /root/work
if [ "${CANDIDATES:-0}" = 1 ]; then
    started=$SECONDS
    timeout "$limit" python3 -m stylefit bench live $CONFIG --case "$case" --stage candidates \
        --cache "/tmp/$case-candidates.sqlite" --out "/tmp/judged/$case-candidates" > "$LOGS/$case-candidates.log" 2>&1 < /dev/null || exit 1
    # a new case's evaluation budget, by the rule, before its first run (live.toml comes back with the results)
    python3 benchmarks/live/set_eval_budget.py --unless-set "$case" >> "$LOGS/$case-candidates.log" 2>&1 || exit 1
    limit=$((limit - (SECONDS - started)))
fi
SELECTOR_WORKERS=${SELECTOR_WORKERS:-2} start_case "$case" "$limit" "${TRUTH_WORKERS:-6}" "${PROXIES[@]}"
NICE=15 start_case "$case" "$limit" 0 "$SCORING"
# Issue 24: the adaptive selector with its pre-registered settings, and the budgets of its curve
[ "${ADAPTIVE:-1}" = 1 ] && setsid nice -n 5 timeout "$limit" python3 benchmarks/adaptive_live.py --run-only --case "$case" \
    --workers "${ADAPTIVE_WORKERS:-4}" $(printf -- '--budget-steps %s ' ${ADAPTIVE_BUDGETS:-16 32 64}) \
    --cache "/tmp/$case-adaptive.sqlite" > "$LOGS/$case-adaptive.log" 2>&1 < /dev/null &
wait
