"""Fixtures shared by the unit tests (those of every layer are in tests/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def umask_000() -> Iterator[None]:
    """The process umask 000 for the test (so a file's mode is what kcplan asks for, not what a umask leaves)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)
