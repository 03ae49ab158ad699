# Sourced by the scripts here: the environment of every stylefit command on the GPU machine.
export PYTHONPATH=/tmp/site:/root/work/src STYLEFIT_HOME=/tmp/sfhome HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
CONFIG=benchmarks/live/live.toml
LOGS=/root/logs
# Every selector the machine can run: alignment-embed_cosine needs the embedding model's package,
# which stays on the CPU machine. Groups run at once, each with its own cache.
SELECTOR_GROUPS=("ppl ifd sppl sppl-paper sppl-exclude-own rsr local length" \
                 "alignment-hidden_cosine alignment-rouge_l alignment-token_f1" "grace" "proxy-paper proxy proxy-gold_loss")

# case, seconds[, selector groups]: its ground truth and the selector groups (default all), in the background
start_case() {
    local case=$1 limit=$2 i=0
    shift 2
    local groups=("$@")
    [ ${#groups[@]} -eq 0 ] && groups=("${SELECTOR_GROUPS[@]}")
    cd /root/work
    setsid timeout "$limit" python3 -m stylefit bench live $CONFIG --case "$case" --stage truth --workers "${WORKERS:-5}" \
        --cache "/tmp/$case-truth.sqlite" --out "/tmp/judged/$case-truth" > "$LOGS/$case-truth.log" 2>&1 < /dev/null &
    for group in "${groups[@]}"; do
        i=$((i + 1))
        setsid timeout "$limit" python3 -m stylefit bench live $CONFIG --case "$case" --stage selectors --workers 3 \
            $(printf -- '--selector %s ' $group) --cache "/tmp/$case-selectors$i.sqlite" --out "/tmp/judged/$case-$i" \
            > "$LOGS/$case-selectors$i.log" 2>&1 < /dev/null &
    done
}

# what has come back so far: every result file and every log, into $OUT
collect() {
    (cd /root/work && tar czf "$OUT/results.tgz" benchmarks/results/live)
    tar czf "$OUT/logs.tgz" -C "$LOGS" .
    for d in /root/work/benchmarks/results/live/*/; do
        echo "$(basename $d): $(ls $d/runs 2>/dev/null | wc -l) runs, $(ls $d/proxy_runs 2>/dev/null | wc -l) proxy runs, $(ls $d/scores 2>/dev/null | wc -l) scores"
    done
    echo "stylefit processes running: $(pgrep -fc 'stylefit bench live' || true)"
}

# case, seconds[, workers]: candidates first (strategies already written are kept), then start_case
start_pipeline() {
    local case=$1 limit=$2 workers=${3:-5}
    cd /root/work
    setsid bash -c "source benchmarks/live/gpu/common.sh
        timeout $((limit - 60)) python3 -m stylefit bench live $CONFIG --case $case --stage candidates \
            --cache /tmp/$case-candidates.sqlite --out /tmp/judged/$case-candidates > $LOGS/$case-candidates.log 2>&1 || exit 1
        WORKERS=$workers start_case $case $((limit - 60)); wait" > /dev/null 2>&1 < /dev/null &
}
