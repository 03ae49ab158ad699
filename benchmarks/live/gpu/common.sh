# Sourced by the scripts here: the environment of every stylefit command on the GPU machine.
export PYTHONPATH=/tmp/site:/root/work/src STYLEFIT_HOME=/tmp/sfhome HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1  # the work is on the GPU; dozens of processes share 16 cores
CONFIG=benchmarks/live/live.toml
LOGS=/root/logs
# what every job started here runs (pgrep -f): the track, the adaptive selector, the pilot
JOBS='stylefit bench live|adaptive_live|live/pilot.py'

# case, seconds, truth workers (0: no ground truth), selector groups...: its ground truth and the
# selector groups (each a job with its own cache), in the background; the selectors are niced ($NICE,
# default 10), so that the ground truth goes first. alignment-embed_cosine needs the embedding model's
# package, which stays on the CPU machine.
start_case() {
    local case=$1 limit=$2 workers=$3
    shift 3
    local groups=("$@")
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
    (cd /root/work && tar czf "$OUT/results.tgz" benchmarks/results/live benchmarks/results/live_pilot benchmarks/live/live.toml)
    tar czf "$OUT/logs.tgz" -C "$LOGS" .
    progress
}

# how far the jobs are: run files per case, and processes still running
progress() {
    for d in /root/work/benchmarks/results/live/*/; do
        echo "$(basename $d) written since the start: $(find $d/runs -newer /root/work/.started -name '*.json' | wc -l) runs," \
             "$(find $d/proxy_runs -newer /root/work/.started -name '*.json' | wc -l) proxy runs, $(find $d/scores -newer /root/work/.started -name '*.json' | wc -l) scores"
    done
    echo "stylefit processes running: $(pgrep -fc "$JOBS" || true)"
}
