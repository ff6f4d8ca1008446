"""What the user asked 'kcplan apply' for, parsed once from the command line.

The apply code reads these fields rather than an argparse Namespace, so nothing is carried on the
Namespace and a test or another front end can build the options directly.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

DEFAULT_VERIFY_TIMEOUT = 180.0


@dataclass(frozen=True)
class ApplyOptions:
    """One apply's choices; ``parallelism`` None means the environment's setting."""

    plan_file: Path | None = None
    env: str | None = None
    auto_approve: bool = False
    parallelism: int | None = None
    verify: bool = True
    verify_timeout: float = DEFAULT_VERIFY_TIMEOUT
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
                   restart_failed=args.restart_failed, rollback_on_failure=args.rollback_on_failure,
                   verbose=args.verbose, json=args.json, targets=tuple(args.target), adopt=args.adopt,
                   lock_timeout=args.lock_timeout)
