#!/usr/bin/env python3
"""Step 3: continue training a GRU network from a weight file."""

import sys

from musicgen.cli import run_script
from musicgen.train_cli import main

if __name__ == "__main__":
    sys.exit(run_script(lambda argv: main(argv, cell="gru", resume=True)))
