"""How text that came from outside (file names, tool output) is shown on a terminal or in a picture:
control characters and bytes that are not UTF-8 made visible as escapes, never acted on."""

from __future__ import annotations

import os
import re

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
_OTHERS = "\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f{_OTHERS}]")
# A stream of the toolkit's own lines keeps its line ends and tabs, the backspaces and carriage
# returns with which progress bars redraw their line, and colour codes (ESC [ ... m, Keras' bar);
# every other ESC (a title, a cleared screen), BEL and the rest are escaped.
_UNSAFE_IN_STREAM = re.compile(f"(\x1b\\[[0-9;]*m)|[\x00-\x07\x0b\x0c\x0e-\x1f{_OTHERS}]")


def _escape(match: re.Match) -> str:
    if match.lastindex:  # a colour code, kept
        return match.group()
    return match.group().encode("unicode_escape").decode("ascii")


def _utf8(text: str) -> str:
    """Bytes that were not UTF-8 (kept by Python as surrogates) shown as \\xe9."""
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeError:  # a lone surrogate that no byte made
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def printable(text: object) -> str:
    """`text` with every control character and every byte that is not UTF-8 shown as an escape."""
    return _UNSAFE.sub(_escape, _utf8(str(text)))


def printable_lines(text: str) -> str:
    """Like `printable` for a stream of lines: keeps newlines, tabs, carriage returns, backspaces and
    colour codes."""
    return _UNSAFE_IN_STREAM.sub(_escape, text)
