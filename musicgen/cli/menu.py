"""Arrow-key menus for picking weight files, with a flag for every menu."""

from __future__ import annotations

import sys
from pathlib import Path

from musicgen.errors import WeightsError
from musicgen.formats.weights import describe, list_weight_files


def has_terminal() -> bool:
    """True when both stdin and stdout are a TTY, which inquirer needs."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def choose_weights(files: list[Path], *, purpose: str, flag_hint: str = "--weights PATH") -> Path:
    """Let the user pick one of `files` with the arrow keys; clear errors instead of a termios traceback."""
    if not files:
        raise WeightsError(f"no weight files to {purpose}; train one first (train.py or train_gru.py)")
    if not has_terminal():
        raise WeightsError(f"no terminal for the menu; pass {flag_hint} (one of: "
                           f"{', '.join(str(f) for f in files[:3])}{' ...' if len(files) > 3 else ''})")
    import inquirer

    question = inquirer.List("weights", message=f"Choose the weight file to {purpose}",
                             choices=[(describe(f), str(f)) for f in files], carousel=True)
    answer = inquirer.prompt([question])
    if not answer:
        raise WeightsError("no weight file chosen")
    return Path(answer["weights"])


def weights_or_menu(given: Path | None, folder: Path, *, purpose: str, label: str | None = None) -> Path:
    """The --weights file when given, else the one picked from `folder`'s weight files (only `label`'s cell)."""
    return given or choose_weights(list_weight_files(folder, label), purpose=purpose)
