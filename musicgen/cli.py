"""Shared argparse helpers and the error boundary every script runs inside."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Callable

from .errors import MusicGenError
from .runtime import limit_malloc_arenas, quiet_tensorflow
from .signals import raise_interrupt


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default said once: not appended where the help text already says it, nor for
    flags whose default is 'not given' (None) or 'off'."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with a one-line error (the message and where to look, not the usage
    block) and each default said once in --help. `tensorflow=True` adds --verbose, which lets
    TensorFlow's start-up lines through (run_script hides them otherwise)."""

    def __init__(self, *args, tensorflow: bool = False, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        if tensorflow:
            self.add_argument("--verbose", action="store_true",
                              help="show TensorFlow's own start-up and device lines (hidden otherwise)")

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def int_in(low: int, high: int):
    """argparse type: a whole number in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}..{high}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def float_in(low: float, high: float, *, low_open: bool = False):
    """argparse type: a number in [low, high] ((low, high] with low_open)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
        inside = (low < value if low_open else low <= value) and value <= high
        if not inside:
            raise argparse.ArgumentTypeError(f"must be in {'(' if low_open else '['}{low:g}, {high:g}], got {text}")
        return value

    parse.__name__ = "number"
    return parse


SEED_MAX = 2**32 - 1  # numpy's and Keras' seeds are unsigned 32-bit


def run_script(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call a script's main; user errors and failing disks become one line on stderr and exit
    code 1. SIGTERM is handled like Ctrl-C, so a killed run cleans up its temporary files too."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    limit_malloc_arenas()
    if "--verbose" not in (sys.argv[1:] if argv is None else argv):
        quiet_tensorflow()
    prog = sys.argv[0].rsplit("/", 1)[-1]
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        return main(argv) or 0
    except MusicGenError as exc:
        print(f"{prog}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A full disk, a read-only folder or a file that vanished: the message names the file.
        where = f" '{exc.filename}'" if exc.filename else ""
        print(f"{prog}: error:{where} {_one_line(exc.strerror or str(exc))}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{prog}: error: out of memory; use smaller settings (--hidden, --count, --seconds, -b)",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _one_line(text: str) -> str:
    return " ".join(text.split())


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
        except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
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
    switch = isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
    if switch != isinstance(value, bool) or not isinstance(value, (str, int, float, bool)):
        wanted = "true or false" if switch else "a single number or word"
        parser.error(f"preset value {action.dest} = {value!r}: expected {wanted}")
    if action.type is None or switch:
        result = value
    else:
        try:
            result = action.type(str(value))
        except (argparse.ArgumentTypeError, ValueError) as exc:
            parser.error(f"preset value {action.dest} = {value!r}: {exc}")
    if action.choices is not None and result not in action.choices:
        parser.error(f"preset value {action.dest} = {value!r}: choose from {', '.join(map(str, action.choices))}")
    return result
