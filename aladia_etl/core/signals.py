"""Graceful stops: Ctrl-C and SIGTERM set an event that long-running loops check between units of work."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event):
    """While active (main thread only), SIGINT and SIGTERM set `stop` instead of raising mid-transaction."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def keeping_the_sigint_handler():
    """Libraries that install their own SIGINT handler on the main thread while they start (PySpark's context cancels
    every job and raises KeyboardInterrupt; Beam's job server stops Prism) would turn Ctrl-C into an abrupt end
    where SIGTERM stops a stream gracefully: the handler in place before is put back once they started."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        if before is not None:
            signal.signal(signal.SIGINT, before)
