"""Holding Ctrl-C and SIGTERM while files are moved into place, so a kill never lands between two renames."""

from __future__ import annotations

import contextlib
import signal
import threading


def raise_interrupt(signum, frame):
    """A signal handler that stops the program as Ctrl-C does (SIGTERM: clean up, then exit 130)."""
    raise KeyboardInterrupt


def main_thread() -> bool:
    """True in the main thread, the only one where Python signal handlers can be set."""
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT/SIGTERM until the block ends, then raise KeyboardInterrupt if one came.

    Python handlers run in the main thread whichever thread the kernel picked, so the
    handlers are swapped (masking the main thread alone misses signals that TensorFlow's
    threads receive). Elsewhere than the main thread this is a no-op.
    """
    if not main_thread():
        yield
        return
    received: list[int] = []
    old = {sig: signal.signal(sig, lambda signum, frame: received.append(signum))
           for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt
