#!/usr/bin/env python3
"""Step 3: train the GRU network."""

import sys

if __name__ == "__main__":  # Ctrl-C from here on ends in "interrupted", even while the rest imports
    from musicgen.signals import interrupt_quietly_while_starting

    interrupt_quietly_while_starting()

from musicgen.cli.args import run_script  # noqa: E402
from musicgen.cli.train_args import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_script(lambda argv: main(argv, cell="gru", resume=False)))
