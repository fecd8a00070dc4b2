"""Holding Ctrl-C and SIGTERM while files are moved into place, so a kill never lands between two renames."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading


_received: list[int] = []  # the signals raise_interrupt has turned into KeyboardInterrupt


def raise_interrupt(signum, frame):
    """A signal handler that stops the program as Ctrl-C does (SIGTERM: clean up, then exit 130)."""
    _received.append(signum)
    raise KeyboardInterrupt


def was_interrupted() -> bool:
    """True once a Ctrl-C or SIGTERM has been raised: C code (an extension's import) may swallow the
    KeyboardInterrupt and raise an error of its own that no longer says it was one."""
    return bool(_received)


def _stop_while_starting(signum, frame):
    os.write(2, f"{os.path.basename(sys.argv[0])}: interrupted\n".encode())
    os._exit(130)


def interrupt_quietly_while_starting() -> None:
    """Until run_script installs its own handlers (interrupts_raise), Ctrl-C or SIGTERM ends the
    script with one "interrupted" line and exit code 130, not a traceback from whichever module was
    importing (nothing has been written yet, so there is nothing to clean up). A Ctrl-C that the
    shell told this process to ignore stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _stop_while_starting)
    signal.signal(signal.SIGTERM, _stop_while_starting)


def interrupts_raise() -> None:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt from here on, so every writer cleans up after itself."""
    if signal.getsignal(signal.SIGINT) in (_stop_while_starting, signal.default_int_handler):
        signal.signal(signal.SIGINT, raise_interrupt)
    signal.signal(signal.SIGTERM, raise_interrupt)


def interrupts_ignored() -> None:
    """Ctrl-C and SIGTERM do nothing from here on (a finished run's exit code stands)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def main_thread() -> bool:
    """True in the main thread, the only one where Python signal handlers can be set."""
    return threading.current_thread() is threading.main_thread()


_deferring = False  # a signals_deferred block is running


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT/SIGTERM until the block ends, then raise KeyboardInterrupt if one came.

    Python handlers run in the main thread whichever thread the kernel picked, so the
    handlers are swapped (masking the main thread alone misses signals that TensorFlow's
    threads receive). Elsewhere than the main thread this is a no-op.
    """
    global _deferring
    if not main_thread() or _deferring:  # inside another deferring block: that one raises when it ends
        yield
        return
    received: list[int] = []
    old = {sig: signal.signal(sig, lambda signum, frame: received.append(signum))
           for sig in (signal.SIGINT, signal.SIGTERM)}
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt
