#!/usr/bin/env bash
# The main job end to end on the bundled dataset: check, convert, train, generate.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export TF_CPP_MIN_LOG_LEVEL=3

$PY check_system_setup.py
$PY convert_directory.py
# The original's defaults: 5 iterations of 3 epochs, batch 5, 1024 LSTM units.
$PY train.py
latest=$(ls -t weights/LSTM_NP_Weights_Iter-*.weights.h5 | head -n 1)
$PY generate.py --weights "$latest" --random-seed 0
echo "demo done: weights and loss plot in weights/, songs and their plots in gen_songs/"
