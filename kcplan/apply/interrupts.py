"""SIGINT/SIGTERM during an apply: finish and save what is under way, or, on a second signal, stop waiting.

Handlers write with os.write (never the buffered sys.stderr: no reentrancy errors in a handler).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from kcplan import exit_codes


class Abandon(BaseException):
    """Raised in the main thread by a second signal: stop waiting for the steps under way."""


class Interrupts:
    """SIGINT/SIGTERM while applying, for the scope of a ``with`` block.

    The first signal asks to stop starting steps (inside ``raising()``, e.g. while waiting for health,
    it raises KeyboardInterrupt instead); the second raises Abandon, so the executor saves what finished
    and stops waiting; a third exits at once without saving, and says so.
    """

    def __init__(self) -> None:
        self.count = 0
        self.under_way: Callable[[], list[str]] = list
        self._raise_first = False
        self._critical = False
        self._abandon_pending = False
        self._old: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.count > 0

    @contextlib.contextmanager
    def raising(self, enabled: bool = True) -> Iterator[None]:
        """Within this block a first signal raises KeyboardInterrupt (nothing to finish cleanly)."""
        before, self._raise_first = self._raise_first, enabled
        try:
            yield
        finally:
            self._raise_first = before

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A second signal inside this block (recording and saving a result) takes effect at its end."""
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self._abandon_pending:
            self._abandon_pending = False
            raise Abandon

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count > 2:
            say(f"\nWarning: {name} a third time: exiting without saving the state. Changes under way may have "
                 "happened without being recorded; run 'kcplan plan' to see what is left to do.\n")
            os._exit(exit_codes.ERROR)
        busy = self.under_way()
        shown = f"{len(busy)} step(s) under way ({', '.join(busy[:5])}{', ...' if len(busy) > 5 else ''})"
        if self.count == 2:
            say(f"\nWarning: {name} again: exiting at once, without waiting for {shown}; saving what finished. "
                 "The abandoned steps may still happen without being recorded in the state.\n" if busy else
                 f"\nWarning: {name} again: exiting at once.\n")
            if self._critical:
                self._abandon_pending = True
                return
            raise Abandon
        if self._raise_first:
            raise KeyboardInterrupt
        waiting = f"waiting for {shown} to finish, then " if busy else ""
        say(f"\nInterrupted ({name}): starting nothing new; {waiting}saving the state. "
             "Interrupt again to exit at once.\n")


def say(text: str) -> None:
    """Write from a signal handler: os.write, never the buffered sys.stderr (no reentrancy errors)."""
    with contextlib.suppress(OSError, ValueError):
        os.write(sys.stderr.fileno(), text.encode())
