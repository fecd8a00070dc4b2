"""Shared argparse helpers and the error boundary every script runs inside."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Callable

from musicgen.cli.runtime import limit_malloc_arenas, quiet_tensorflow
from musicgen.config import Option
from musicgen.errors import MusicGenError, OutputError
from musicgen.schema import SchemaError, json_text, load_toml
from musicgen.text import printable_lines
from musicgen.signals import interrupts_ignored, interrupts_raise, was_interrupted


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default said once: not appended where the help text already says it, nor for
    flags whose default is 'not given' (None), nor for switches."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text or is_switch(action) or action.default is None or action.default == argparse.SUPPRESS \
                or not action.option_strings:
            return text
        if isinstance(action.default, (list, tuple)):  # as typed: the values, not a Python list of paths
            return f"{text} (default: {' '.join(map(str, action.default))})"
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with a one-line error (the message and where to look, not the usage
    block) and each default said once in --help. `tensorflow=True` adds --verbose, which lets
    TensorFlow's start-up lines through (run_script hides them otherwise)."""

    def __init__(self, *args, tensorflow: bool = False, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        self.options: list[argparse.Action] = []  # every flag added, in order (argparse keeps its own list private)
        super().__init__(*args, **kwargs)
        if tensorflow:
            self.add_argument("--verbose", action="store_true",
                              help="show TensorFlow's own start-up and device lines (hidden otherwise)")

    def add_argument(self, *args, **kwargs) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        self.options.append(action)
        return action

    def has_flag(self, flag: str) -> bool:
        return any(flag in action.option_strings for action in self.options)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def is_switch(action: argparse.Action) -> bool:
    """A store_true or store_false flag: it takes no value and sets True or False."""
    return action.nargs == 0 and isinstance(action.const, bool)


def add_weights_flag(parser: ArgumentParser, what: str) -> None:
    """`--weights PATH`, which replaces the arrow-key menu that picks a weight file."""
    parser.add_argument("--weights", type=Path, default=None, metavar="PATH",
                        help=f"{what} (default: arrow-key menu of WEIGHTS_DIR)")


def add_json_flag(parser: ArgumentParser, what: str) -> None:
    """`--json`: the script's result as one JSON object on standard output, for other scripts to read."""
    parser.add_argument("--json", action="store_true",
                        help=f"print {what} as one JSON object on standard output (progress and notes go to standard "
                        "error)")


def output_for(as_json: bool):
    """Where what a run prints on its way goes: standard error under --json (Keras' progress bars too), so that
    standard output holds the JSON alone."""
    return contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()


@contextlib.contextmanager
def stdout_for_audio():
    """Standard output as a binary stream for audio (generate.py --stream). Meanwhile file descriptor 1 is
    standard error, so nothing printed (by Python or a library's C code) lands in the audio."""
    if os.isatty(1):
        raise OutputError("--stream writes the song to standard output as audio: send it to a player "
                          "(| play -t wav -) or a file (> song.wav)")
    sys.stdout.flush()
    audio, saved = os.dup(1), os.dup(1)
    os.dup2(2, 1)
    try:
        with open(audio, "wb") as listener:
            yield listener
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def print_json(doc: dict) -> None:
    """A result on standard output as strict JSON (a number that is not finite is null)."""
    print(json_text(doc), flush=True)


def number_in(opt: Option, kind: type):
    """argparse type: a number of `kind` (int or float) in the range `opt` declares."""
    whole = kind is int

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {parse.__name__}, got '{text}'") from None
        if not opt.inside(value):
            raise argparse.ArgumentTypeError(f"must be in {opt.span(whole)}, got {text}")
        return value

    parse.__name__ = "whole number" if whole else "number"
    parse.bounds = (opt.low, opt.high, opt.low_open, opt.high_open)  # what docs/CLI.md's range table is checked against
    return parse


def path_ending(suffix: str):
    """argparse type: a path whose name ends in `suffix` (any case)."""
    def parse(text: str) -> Path:
        if not text.lower().endswith(suffix):
            raise argparse.ArgumentTypeError(f"the name must end in {suffix}, got '{text}'")
        return Path(text)

    return parse


def add_options(parser: argparse.ArgumentParser, cls, *, stage: str | None = None,
                defaults: dict | None = None, help_suffix: dict | None = None) -> None:
    """Add a flag for every field of the config dataclass `cls` that declares an Option (with `stage`, only
    those that stage sets), as config.py declares it; `defaults` and `help_suffix` adjust a field's flag
    for one script."""
    defaults, help_suffix = defaults or {}, help_suffix or {}
    for f in dataclasses.fields(cls):
        opt = f.metadata.get("option")
        if opt is None:
            continue
        stages = opt.stage if isinstance(opt.stage, tuple) else (opt.stage,)
        if stage is not None and stage not in stages:
            continue
        kwargs = {"dest": f.name, "default": defaults.get(f.name, f.default),
                  "help": opt.help + help_suffix.get(f.name, "")}
        if opt.negate:
            parser.add_argument(*opt.flags, action="store_false", **kwargs)
        elif isinstance(f.default, bool):
            parser.add_argument(*opt.flags, action="store_true", **kwargs)
        else:
            if opt.nargs:
                kwargs.update(nargs=opt.nargs, default=list(kwargs["default"]))
            parser.add_argument(*opt.flags, type=_value_type(opt, f.default), choices=opt.choices,
                                metavar=opt.metavar, **kwargs)


def _value_type(opt, default):
    if opt.suffix:
        return path_ending(opt.suffix)
    kind = opt.kind or type(default)
    if kind in (int, float) and opt.low is not None:
        return number_in(opt, kind)
    return None if kind is str else kind


def config_from(cls, args: argparse.Namespace, **given):
    """`cls` with the value of each of its option fields the parser has in `args`, then `given`. A flag
    whose default a script set to None (not given) leaves a field whose own default is not None alone."""
    values = {}
    for f in dataclasses.fields(cls):
        if "option" in f.metadata and hasattr(args, f.name):
            value = getattr(args, f.name)
            if value is not None or f.default is None:
                # A flag of several values (nargs) parses to a list; the field holds a tuple, as its default does.
                values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**{**values, **given})


def run_script(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call a script's main; user errors and failing disks become one line on stderr and exit
    code 1. SIGTERM is handled like Ctrl-C, so a killed run cleans up its temporary files too; once
    main is done both are ignored, so the exit code stands. For scripts only: it owns the signals."""
    # A file name need not be UTF-8 (Linux allows any bytes); printed, its odd bytes show as \xe9
    # instead of ending the run in a UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    # Every line goes through one filter: a name holding terminal escapes is shown, never obeyed.
    if not isinstance(sys.stdout, _WatchedStream):
        sys.stdout = _WatchedStream(sys.stdout)
    if not isinstance(sys.stderr, _WatchedStream):
        sys.stderr = _WatchedStream(sys.stderr)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    limit_malloc_arenas()
    if "--verbose" not in (sys.argv[1:] if argv is None else argv):
        quiet_tensorflow()
        # matplotlib's notes (a temporary cache folder when HOME cannot be written) are not the user's business.
        logging.getLogger("matplotlib").setLevel(logging.ERROR)
        # Library warnings (Keras' UserWarnings, numpy's RuntimeWarnings) are for developers; a user
        # gets one line per problem from us. --verbose shows them.
        warnings.simplefilter("ignore")
    prog = sys.argv[0].rsplit("/", 1)[-1]
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        interrupts_raise()
    try:
        return _report_errors(main, argv, prog)
    except KeyboardInterrupt:  # one that landed while an error was being reported
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    finally:
        if in_main:  # the run is over: a late signal must not turn its outcome into a kill
            interrupts_ignored()


def _report_errors(main, argv, prog: str) -> int:
    try:
        code = main(argv) or 0
        sys.stdout.flush()  # here, not at exit, so that a full or closed stdout is reported below
        return code
    except MusicGenError as exc:
        print(f"{prog}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A full disk, a read-only folder or a file that vanished: the message names the file.
        where = f" '{exc.filename}'" if exc.filename else ""
        if not exc.filename and _stdout_broken():
            where = " cannot write to standard output:"
        print(f"{prog}: error:{where} {_one_line(exc.strerror or str(exc))}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{prog}: error: out of memory; use smaller settings (see --help)",
              file=sys.stderr)
        return 1
    except BaseException as exc:  # a Ctrl-C, or another error that one turned into
        if not (_caused_by_interrupt(exc) or was_interrupted()):
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def _caused_by_interrupt(exc: BaseException) -> bool:
    """True for a KeyboardInterrupt, or an error chained to one: a C extension's import reports a
    Ctrl-C that landed inside it as an ImportError chained to the KeyboardInterrupt."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


class _WatchedStream:
    """A stream that shows control characters as escapes (colour codes and line redraws kept) and
    remembers a failed write (a full device, a closed pipe), so the one-line error can say it was
    standard output; everything else is the stream's own."""

    def __init__(self, stream):
        self._stream, self.failed = stream, False

    def write(self, text):
        try:
            return self._stream.write(printable_lines(text) if isinstance(text, str) else text)
        except OSError:
            self.failed = True
            raise

    def flush(self):
        try:
            return self._stream.flush()
        except OSError:
            self.failed = True
            raise

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _stdout_broken() -> bool:
    """True if a write to stdout failed; it is then replaced, so the interpreter's own flush at exit
    adds no second message."""
    if not getattr(sys.stdout, "failed", False):
        return False
    sys.stdout = open(os.devnull, "w")
    return True


def _one_line(text: str) -> str:
    return " ".join(text.split())


def add_preset_flag(parser: ArgumentParser) -> None:
    """`--config FILE.toml`, which parse_with_preset reads (added once)."""
    if parser.has_flag("--config"):
        return
    parser.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                        help="preset of flag values (see config/); flags given here override it")


def parse_with_preset(parser: ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse flags after applying `--config FILE.toml` (flag values by name) as new defaults.

    Flags on the command line still win over the preset.
    """
    add_preset_flag(parser)
    first, _ = parser.parse_known_args(argv)
    if first.config is not None:
        try:
            preset = load_toml(first.config)
        except OSError as exc:
            parser.error(f"cannot read preset '{first.config}': {exc.strerror or exc}")
        except SchemaError as exc:
            parser.error(f"cannot read preset '{first.config}': {exc}")
        known = _preset_names(parser)
        unknown = sorted(set(preset) - set(known))
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            named = ", ".join(name[:40] for name in unknown[:5]) + more
            parser.error(f"preset '{first.config}' sets unknown option(s) {named}; "
                         f"known: {', '.join(sorted(known))}")
        values = {}
        for key, value in preset.items():
            action = known[key]
            if action.dest in values:
                parser.error(f"preset '{first.config}' sets {action.dest} twice ({key})")
            if key != action.dest and is_switch(action) and action.const is False \
                    and isinstance(value, bool):
                value = not value  # no_echo = true means echo off
            # Values go through each flag's own type check, as if typed on the command line.
            values[action.dest] = _convert(parser, action, value)
        parser.set_defaults(**values)
    return parser.parse_args(argv)


def _preset_names(parser: ArgumentParser) -> dict[str, argparse.Action]:
    """What a preset may call each flag: its long name with '-' written '_' (n_iter, no_echo, data) or
    the setting's own name in config.py (data_prefix, echo)."""
    names = {}
    for action in parser.options:
        if action.dest in ("help", "config"):
            continue
        names[action.dest] = action
        for flag in action.option_strings:
            if flag.startswith("--"):
                names.setdefault(flag[2:].replace("-", "_"), action)
    return names


def _convert(parser: argparse.ArgumentParser, action: argparse.Action, value):
    if action.nargs in ("+", "*"):
        # A flag that takes several values takes one as well (reference = "DIR" as ["DIR"]).
        items = value if isinstance(value, list) else [value]
        if not items:
            parser.error(f"preset value {action.dest} = []: expected at least one value")
        return [_convert_one(parser, action, item) for item in items]
    return _convert_one(parser, action, value)


def _convert_one(parser: argparse.ArgumentParser, action: argparse.Action, value):
    switch = is_switch(action)
    if switch != isinstance(value, bool) or not isinstance(value, (str, int, float, bool)):
        wanted = "true or false" if switch else "a single number or word"
        parser.error(f"preset value {action.dest} = {value!r}: expected {wanted}")
    if isinstance(value, str) and "\0" in value:  # what a command line cannot carry, a preset may not either
        parser.error(f"preset value {action.dest} = {value!r}: holds a NUL character")
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
