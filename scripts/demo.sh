#!/usr/bin/env bash
# The main job end to end on the bundled dataset: check, convert, train, generate, evaluate.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export TF_CPP_MIN_LOG_LEVEL=3
start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT

$PY check_system_setup.py
# Overlapping blocks, so that the phase of log-magnitude blocks can be rebuilt (docs/RESULTS.md, "Songs that
# keep going"); `convert_directory.py` alone keeps GRUV's hard-edged blocks.
$PY convert_directory.py --overlap --store logmag --output datasets/np_overlap
# A 256-unit LSTM on 64 log mel bands with a sampled (mixture) output (config/fast.toml), trained for 3 minutes,
# so that its songs are still music a minute after the seed; `train.py` alone keeps the original's
# defaults, and config/keep_going.toml the original's 1024-unit network (half an hour).
train_start=$SECONDS
$PY train.py --config config/fast.toml --data datasets/np_overlap | tee "$log"
train_seconds=$(( SECONDS - train_start ))
weights=$(sed -n 's/^done: //p' "$log" | tail -n 1)
# 10 s of echo of the seed clip, then 40 s of new music; evaluate.py judges the new part.
$PY generate.py --weights "$weights" --data datasets/np_overlap --random-seed 0 --seconds 50 --detail nearest | tee "$log"
song=$(sed -n 's/^wrote \(.*\.wav\) (.*/\1/p' "$log" | tail -n 1)
$PY evaluate.py "$song" --plot "${song%.wav}_evaluation.png"

echo
echo "main job done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s," \
  "of which training $(( train_seconds / 60 )) min $(( train_seconds % 60 )) s:"
echo "  weights and loss plot: ${weights%.weights.h5}.{weights.h5,png}"
echo "  preview of each kept checkpoint: ${weights%.weights.h5}.preview.wav"
echo "  song:                  $song (waveform/spectrogram: ${song%.wav}.png)"
echo "  evaluation plot:       ${song%.wav}_evaluation.png"
