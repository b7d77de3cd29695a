#!/usr/bin/env bash
# One chunk of the weights campaign, as one device command (docs/TRAINING_CAMPAIGN.md, "Running a chunk").
#
#   bash campaign/chunk.sh MINUTES [golfdeblur train options...]
#   e.g. bash campaign/chunk.sh 9 --stage d --init-from campaign/golf-campaign.safetensors
#
# Trains `--recipe campaign` (options given later win) into /tmp/golf-chunk/run ($GOLF_CHUNK_WORK/run) for MINUTES, validating every 1,000
# steps, and copies each weights file the run saves (every 2 minutes) into /tmp/golf-chunk/snap, so that the weights
# between validations can be scored too. Everything comes back in at most 8 files under $OUT, the device tool's
# limit: train.log, log.csv, best-d.* and weights-d.* (when stage D ran), snap.tar (the snapshots with their cards)
# and run.tar (the rest of the run folder: config, summary, checkpoints, G's weights, TensorBoard). A hard timeout 40 s
# past the budget makes sure the copying runs even if training overruns.
set -u
if [ $# -lt 1 ] || [ -z "${OUT:-}" ]; then
    echo "usage: OUT=FOLDER bash campaign/chunk.sh MINUTES [train options...]" >&2
    exit 2
fi
minutes=$1
shift
work=${GOLF_CHUNK_WORK:-/tmp/golf-chunk}  # emptied first
rm -rf "$work" && mkdir -p "$work/snap" "$OUT" || exit 1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python=${PYTHON:-python3}  # the device image's python3 has torch; elsewhere name the interpreter (a venv's)

snapshot() {  # copy each newly saved weights file (they are written atomically, so a copy is always whole)
    for weights in "$work"/run/weights-[gd].safetensors; do
        [ -f "$weights" ] || continue
        stamp=$(stat -c %Y "$weights")
        name=$(basename "$weights" .safetensors)-$stamp
        if [ ! -f "$work/snap/$name.safetensors" ]; then
            cp "$weights" "$work/snap/$name.safetensors" && cp "${weights%.safetensors}.json" "$work/snap/$name.json"
        fi
    done
}
(while sleep 10; do snapshot; done) &
watcher=$!

limit=$("$python" -c "import sys; print(int(float(sys.argv[1]) * 60) + 40)" "$minutes") || exit 2
timeout "$limit" "$python" -m golfdeblur.cli train --recipe campaign --set train.val_every=1000 \
    --max-minutes "$minutes" --out "$work/run" "$@" >"$OUT/train.log" 2>&1
status=$?
kill "$watcher" 2>/dev/null
snapshot

for name in log.csv best-d.safetensors best-d.json weights-d.safetensors weights-d.json; do
    [ -f "$work/run/$name" ] && cp "$work/run/$name" "$OUT/"
done
tar cf "$OUT/snap.tar" -C "$work" snap
if [ -d "$work/run" ]; then  # absent when training failed before it started
    tar cf "$OUT/run.tar" -C "$work/run" --exclude=log.csv --exclude='best-d.*' --exclude='weights-d.*' .
fi
ls -l "$OUT"
tail -4 "$OUT/train.log"
exit "$status"
