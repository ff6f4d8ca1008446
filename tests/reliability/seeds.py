"""The seed of a reliability run: every failure names its seed, so a run can be repeated exactly."""

from __future__ import annotations

import os
import random


def base_seed(limit: int = 2**32) -> int:
    """KCPLAN_RELIABILITY_SEED when set (to repeat a run), else a fresh random seed in [0, ``limit``)."""
    given = os.environ.get("KCPLAN_RELIABILITY_SEED")
    return int(given) if given else random.SystemRandom().randrange(limit)
