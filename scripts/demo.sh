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
$PY convert_directory.py
# The original's network (1024-unit LSTM) with the training tuned in config/demo.toml, so a
# music-like song comes out in minutes on a laptop; `train.py` alone keeps the original's defaults.
$PY train.py --config config/demo.toml | tee "$log"
weights=$(sed -n 's/^done: //p' "$log" | tail -n 1)
$PY generate.py --weights "$weights" --random-seed 0 --seconds 20 | tee "$log"
song=$(sed -n 's/^wrote \(.*\.wav\) (.*/\1/p' "$log" | tail -n 1)
$PY evaluate.py "$song" --plot "${song%.wav}_evaluation.png"

echo
echo "main job done in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s:"
echo "  weights and loss plot: ${weights%.weights.h5}.{weights.h5,png}"
echo "  song:                  $song (waveform/spectrogram: ${song%.wav}.png)"
echo "  evaluation plot:       ${song%.wav}_evaluation.png"
