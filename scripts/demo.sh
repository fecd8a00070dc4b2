#!/usr/bin/env bash
# The main job end to end on the bundled dataset: check, convert, train, generate, evaluate.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export TF_CPP_MIN_LOG_LEVEL=3
start=$SECONDS
# One field of the JSON a script prints with --json (its progress goes to the terminal meanwhile).
field() { $PY -c 'import json, sys; doc = json.load(sys.stdin)
for key in sys.argv[1:]: doc = doc[int(key) if isinstance(doc, list) else key]
print(doc)' "$@"; }

$PY check_system_setup.py
# Overlapping blocks, so that the phase of log-magnitude blocks can be rebuilt (docs/RESULTS.md, "Songs that
# keep going"); `convert_directory.py` alone keeps GRUV's hard-edged blocks.
$PY convert_directory.py --overlap --store logmag --output datasets/np_overlap
# A 256-unit LSTM on 64 log mel bands with a sampled (mixture) output (config/fast.toml), trained for 3 minutes,
# so that its songs are still music a minute after the seed; `train.py` alone keeps the original's
# defaults, and config/keep_going.toml the original's 1024-unit network (half an hour).
train_start=$SECONDS
weights=$($PY train.py --config config/fast.toml --data datasets/np_overlap --json | field checkpoint)
train_seconds=$(( SECONDS - train_start ))
# 10 s of echo of the seed clip, then 40 s of new music, seeded from the tensors the weight file was trained on;
# evaluate.py judges the new part against the music that network learnt from.
song=$($PY generate.py --weights "$weights" --random-seed 0 --seconds 50 --detail nearest --json | field songs 0 path)
$PY evaluate.py "$song" --plot "${song%.wav}_evaluation.png"

echo
echo "main job done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s," \
  "of which training $(( train_seconds / 60 )) min $(( train_seconds % 60 )) s:"
echo "  weights and loss plot: ${weights%.weights.h5}.{weights.h5,png}"
echo "  preview of each kept checkpoint: ${weights%.weights.h5}.preview.wav"
echo "  song:                  $song (waveform/spectrogram: ${song%.wav}.png)"
echo "  evaluation plot:       ${song%.wav}_evaluation.png"
echo "  pages to listen on:    $(dirname "$song")/index.html, $(dirname "$weights")/index.html (open in a browser)"
