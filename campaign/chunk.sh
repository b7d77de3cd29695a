#!/usr/bin/env bash
# One chunk of the weights campaign, as one device command (docs/TRAINING_CAMPAIGN.md, "Running a chunk").
#
#   bash campaign/chunk.sh MINUTES [golfdeblur train options...]
#   e.g. bash campaign/chunk.sh 9 --stage d --init-from campaign/golf-campaign.safetensors
#
# Trains `--recipe campaign` (options given later win) into /tmp/golf-chunk/run ($GOLF_CHUNK_WORK/run) for MINUTES, validating every 1,000
# steps, and copies each weights file the run saves (every 2 minutes) into /tmp/golf-chunk/snap, so that the weights
# between validations can be scored too. Everything comes back within the device tool's limits on $OUT (at most 8
# files, 16 MiB each, 64 MiB in all): train.log, log.csv, best-d.* (when stage D ran), snap.tar (the snapshots with
# their cards) and run.tar (the rest of the run folder: config, summary, checkpoints, weights, TensorBoard, and the run's own train.log
# of what it said, beside $OUT/train.log, the command's stdout and stderr). A tar
# over 15 MiB comes back cut into NAME.part0, NAME.part1, ... (with the EMA on, run.tar of --stage both held 18.1 MiB at campaign
# widths); campaign/evaluate_chunk.py joins them. A hard timeout 40 s past the budget ($GOLF_CHUNK_GRACE_S) makes
# sure the copying runs even if training overruns.
set -u
if [ $# -lt 1 ] || [ -z "${OUT:-}" ]; then
    echo "usage: OUT=FOLDER bash campaign/chunk.sh MINUTES [train options...]" >&2
    exit 2
fi
minutes=$1
shift
if ! [[ $minutes =~ ^[0-9]+([.][0-9]+)?$ ]] || ! [[ $minutes =~ [1-9] ]]; then  # before anything starts
    echo "chunk.sh: MINUTES must be a positive number of minutes (e.g. 9 or 3.5), got '$minutes'" >&2
    exit 2
fi
grace=${GOLF_CHUNK_GRACE_S:-40}  # seconds past the budget for start-up and saving (the tests, on a busy CPU: more)
if ! [[ $grace =~ ^[0-9]+$ ]]; then
    echo "chunk.sh: GOLF_CHUNK_GRACE_S must be a whole number of seconds, got '$grace'" >&2
    exit 2
fi
limit=$(awk -v m="$minutes" -v g="$grace" 'BEGIN { printf "%d", m * 60 + g }')  # seconds: the budget plus the grace
work=${GOLF_CHUNK_WORK:-/tmp/golf-chunk}  # emptied first
rm -rf "$work" && mkdir -p "$work/snap" "$OUT" || exit 1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
python=${PYTHON:-python3}  # the device image's python3 has torch; elsewhere name the interpreter (a venv's)

snapshot() {  # copy each newly saved weights file (they are written atomically, so a copy is always whole)
    for weights in "$work"/run/weights-[gd].safetensors; do
        [ -f "$weights" ] || continue
        stamp=$(stat -c %Y "$weights")
        name=$(basename "$weights" .safetensors)-$stamp
        copy=$work/snap/$name
        if [ ! -f "$copy.safetensors" ]; then
            cp "$weights" "$copy.safetensors" && cp "${weights%.safetensors}.json" "$copy.json"
            # the card is written after the weights: a copy made between the two writes pairs new weights with the
            # old card, so it is dropped and made again on the next pass
            sum=$(sha256sum "$copy.safetensors" | cut -c1-64)
            grep -q "\"sha256\": *\"$sum\"" "$copy.json" 2>/dev/null || rm -f "$copy.safetensors" "$copy.json"
        fi
    done
}
# Silent, so that neither the loop nor the sleep it is in when killed holds the caller's output open.
(exec >/dev/null 2>&1; while sleep 10; do snapshot; done) &
watcher=$!

timeout "$limit" "$python" -m golfdeblur.cli train --recipe campaign --set train.val_every=1000 \
    --max-minutes "$minutes" --out "$work/run" "$@" >"$OUT/train.log" 2>&1
status=$?
kill "$watcher" 2>/dev/null
snapshot

part_bytes=${GOLF_CHUNK_PART_BYTES:-15728640}  # 15 MiB: under the tool's 16 MiB a file
pack() {  # pack TAR_NAME TAR_OPTIONS...: a tar under $OUT, cut into parts when it is larger than part_bytes
    tar cf "$OUT/$1" "${@:2}" || return 1
    if [ "$(stat -c %s "$OUT/$1")" -gt "$part_bytes" ]; then
        split -b "$part_bytes" -d -a 1 "$OUT/$1" "$OUT/$1.part" && rm "$OUT/$1"
    fi
}
for name in log.csv best-d.safetensors best-d.json; do
    [ -f "$work/run/$name" ] && cp "$work/run/$name" "$OUT/"
done
pack snap.tar -C "$work" snap
if [ -d "$work/run" ]; then  # absent when training failed before it started
    pack run.tar -C "$work/run" --exclude=log.csv --exclude='best-d.*' .
fi
ls -l "$OUT"
files=$(find "$OUT" -type f | wc -l)
bytes=$(du -cb "$OUT"/* | tail -1 | cut -f1)
if [ "$files" -gt 8 ] || [ "$bytes" -gt 67108864 ]; then
    echo "WARNING: $files files, $bytes bytes under \$OUT: over the device tool's 8 files or 64 MiB, some will not come back" >&2
fi
tail -4 "$OUT/train.log"
exit "$status"
