# Sourced by the scripts here: the environment of every stylefit command on the GPU machine.
export PYTHONPATH=/tmp/site:/root/work/src STYLEFIT_HOME=/tmp/sfhome HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1  # the work is on the GPU; dozens of processes share 16 cores
CONFIG=benchmarks/live/live.toml
LOGS=/root/logs
# Every selector the machine can run: alignment-embed_cosine needs the embedding model's package,
# which stays on the CPU machine. Groups run at once, each with its own cache.
SELECTOR_GROUPS=("ppl ifd sppl sppl-paper sppl-exclude-own rsr local length" \
                 "alignment-hidden_cosine alignment-rouge_l alignment-token_f1" "grace" "proxy-paper proxy proxy-gold_loss")

# case, seconds, truth workers (0: no ground truth)[, selector groups]: its ground truth and the
# selector groups (default all), in the background; the selectors are niced ($NICE, default 10), so
# that the ground truth goes first
start_case() {
    local case=$1 limit=$2 workers=$3
    shift 3
    local groups=("$@")
    [ ${#groups[@]} -eq 0 ] && groups=("${SELECTOR_GROUPS[@]}")
    cd /root/work
    [ "$workers" -gt 0 ] && setsid timeout "$limit" python3 -m stylefit bench live $CONFIG --case "$case" --stage truth --workers "$workers" \
        --cache "/tmp/$case-truth.sqlite" --out "/tmp/judged/$case-truth" > "$LOGS/$case-truth.log" 2>&1 < /dev/null &
    for group in "${groups[@]}"; do
        local log="$case-selectors-$(echo $group | tr ' ' '+' | cut -c1-40)"
        setsid nice -n "${NICE:-10}" timeout "$limit" python3 -m stylefit bench live $CONFIG --case "$case" --stage selectors --workers "${SELECTOR_WORKERS:-3}" \
            $(printf -- '--selector %s ' $group) --cache "/tmp/$log.sqlite" --out "/tmp/judged/$log" \
            > "$LOGS/$log.log" 2>&1 < /dev/null &
    done
}

# what has come back so far: every result file and every log, into $OUT
collect() {
    (cd /root/work && tar czf "$OUT/results.tgz" benchmarks/results/live benchmarks/results/live_pilot)
    tar czf "$OUT/logs.tgz" -C "$LOGS" .
    progress
}

# how far the jobs are: run files per case, and processes still running
progress() {
    for d in /root/work/benchmarks/results/live/*/; do
        echo "$(basename $d) written since the start: $(find $d/runs -newer /root/work/.started -name '*.json' | wc -l) runs," \
             "$(find $d/proxy_runs -newer /root/work/.started -name '*.json' | wc -l) proxy runs, $(find $d/scores -newer /root/work/.started -name '*.json' | wc -l) scores"
    done
    echo "stylefit processes running: $(pgrep -fc 'stylefit bench live|adaptive_live|live/pilot.py' || true)"
}

# case, seconds[, workers]: candidates first (strategies already written are kept), then start_case
start_pipeline() {
    local case=$1 limit=$2 workers=${3:-5}
    cd /root/work
    setsid bash -c "source benchmarks/live/gpu/common.sh
        timeout $((limit - 60)) python3 -m stylefit bench live $CONFIG --case $case --stage candidates \
            --cache /tmp/$case-candidates.sqlite --out /tmp/judged/$case-candidates > $LOGS/$case-candidates.log 2>&1 || exit 1
        start_case $case $((limit - 60)) $workers; wait" > /dev/null 2>&1 < /dev/null &
}
