"""What the user asked 'kcplan apply' for, parsed once from the command line.

The apply code reads these fields rather than an argparse Namespace, so nothing is carried on the
Namespace and a test or another front end can build the options directly.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_VERIFY_TIMEOUT = 180.0
DEFAULT_VERIFY_STABLE = 30.0  # s a connector must stay healthy; measured in bench/stability/results.md
STABLE_ENV = "KCPLAN_VERIFY_STABLE"  # the default of --verify-stable, e.g. 0 in a test suite


def default_verify_stable() -> float:
    """--verify-stable's default: $KCPLAN_VERIFY_STABLE when it is a number of seconds >= 0, else 30."""
    try:
        value = float(os.environ.get(STABLE_ENV, ""))
    except ValueError:
        return DEFAULT_VERIFY_STABLE
    return value if value >= 0 else DEFAULT_VERIFY_STABLE


@dataclass(frozen=True)
class ApplyOptions:
    """One apply's choices; ``parallelism`` None means the environment's setting. A defaulted
    ``verify_stable`` is at most half the verification timeout (the window must fit in it)."""

    plan_file: Path | None = None
    env: str | None = None
    auto_approve: bool = False
    parallelism: int | None = None
    verify: bool = True
    verify_timeout: float = DEFAULT_VERIFY_TIMEOUT
    verify_stable: float = DEFAULT_VERIFY_STABLE
    canary: int | None = None
    wave_size: int | None = None
    restart_failed: bool = False
    rollback_on_failure: bool = False
    verbose: bool = False
    json: bool = False
    targets: tuple[str, ...] = ()
    adopt: bool = False
    lock_timeout: float = 0.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ApplyOptions:
        return cls(plan_file=args.plan_file, env=args.env, auto_approve=args.auto_approve,
                   parallelism=args.parallelism, verify=not args.no_verify, verify_timeout=args.verify_timeout,
                   verify_stable=(min(default_verify_stable(), args.verify_timeout / 2) if args.verify_stable is None
                                  else args.verify_stable),
                   canary=args.canary, wave_size=args.wave_size,
                   restart_failed=args.restart_failed, rollback_on_failure=args.rollback_on_failure,
                   verbose=args.verbose, json=args.json, targets=tuple(args.target), adopt=args.adopt,
                   lock_timeout=args.lock_timeout)
