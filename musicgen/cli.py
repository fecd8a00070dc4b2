"""Shared argparse helpers and the error boundary every script runs inside."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable

from .errors import MusicGenError
from .runtime import limit_malloc_arenas


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def run_script(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call a script's main; user errors become one line on stderr and exit code 1."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    limit_malloc_arenas()
    prog = sys.argv[0].rsplit("/", 1)[-1]
    try:
        return main(argv) or 0
    except MusicGenError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def parse_with_preset(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse flags after applying `--config FILE.toml` (flag values by name) as new defaults.

    Flags on the command line still win over the preset.
    """
    import tomllib

    parser.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                        help="preset of flag values (see config/); flags given here override it")
    first, _ = parser.parse_known_args(argv)
    if first.config is not None:
        try:
            preset = tomllib.loads(first.config.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            parser.error(f"cannot read preset '{first.config}': {exc}")
        known = {a.dest: a for a in parser._actions if a.dest not in ("help", "config")}
        unknown = sorted(set(preset) - set(known))
        if unknown:
            parser.error(f"preset '{first.config}' sets unknown option(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
        # Values go through each flag's own type check, as if typed on the command line.
        parser.set_defaults(**{k: _convert(parser, known[k], v) for k, v in preset.items()})
    return parser.parse_args(argv)


def _convert(parser: argparse.ArgumentParser, action: argparse.Action, value):
    if action.type is None or not isinstance(value, (str, int, float)):
        result = value
    else:
        try:
            result = action.type(str(value))
        except (argparse.ArgumentTypeError, ValueError) as exc:
            parser.error(f"preset value {action.dest} = {value!r}: {exc}")
    if action.choices is not None and result not in action.choices:
        parser.error(f"preset value {action.dest} = {value!r}: choose from {', '.join(map(str, action.choices))}")
    return result
