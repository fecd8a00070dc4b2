#!/usr/bin/env python3
"""Step 1: check that Python packages, TensorFlow devices and lame/sox/dot are ready."""

import sys

if __name__ == "__main__":  # Ctrl-C from here on ends in "interrupted", even while the rest imports
    from musicgen.signals import interrupt_quietly_while_starting

    interrupt_quietly_while_starting()

from musicgen.cli.args import ArgumentParser, run_script  # noqa: E402


def get_arguments(argv=None):
    """Parse the command line (--help, --verbose)."""
    p = ArgumentParser(
        description="Print the versions of Python, TensorFlow, Keras and the other packages, "
        "the devices TensorFlow sees, and whether lame, sox (with mp3) and graphviz's dot are "
        "installed. Exits 1 with an install hint when anything is missing.",
        tensorflow=True,
    )
    return p.parse_args(argv)


def main(argv=None):
    get_arguments(argv)
    from musicgen.cli.system_check import run_checks

    checks = run_checks()
    for c in checks:
        print(f"{'ok ' if c.ok else 'MISSING'} {c.name:<11} {c.detail}")
    missing = [c.name for c in checks if not c.ok]
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    print("system setup ok")
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
