"""Render an environment and plan it against its state and its cluster: what plan, apply -e and import share.

``make_plan`` is the one place that turns a rendered environment and a state into a Plan.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kcplan.commands._options import render_inputs
from kcplan.config.render import Desired, load_desired
from kcplan.connect.client import ConnectClient
from kcplan.context import Context
from kcplan.errors import PlanError
from kcplan.plan.model import Plan
from kcplan.plan.offsets_check import offsets_problems, set_targets
from kcplan.plan.planner import build_plan
from kcplan.state.digest import new_salt
from kcplan.state.model import State


def load_environment(args: argparse.Namespace, env_name: str | None = None) -> tuple[Context, Desired]:
    """Settings and rendered connectors of the environment ``env_name`` (default: the one -e names)."""
    inputs = render_inputs(args)
    if env_name is None:
        ctx = Context.from_args(args, ext_vars=inputs.ext_vars)
    else:
        ctx = Context(Path(args.project_dir), env_name, bool(args.debug), dict(inputs.ext_vars))
    desired = load_desired(ctx.project_dir, ctx.env_name, ext_vars=inputs.ext_vars, tla_vars=inputs.tla_vars,
                           extra_sensitive_keys=ctx.settings.sensitive_keys)
    return ctx, desired


def shown_urls(ctx: Context) -> list[str]:
    """The environment's Connect URLs as plans show and store them: without ``user:password@``."""
    from kcplan.connect.classify import redact_url

    return [redact_url(u) for u in ctx.settings.connect_url]


def make_plan(ctx: Context, desired: Desired, prior: State, *, refresh: bool = True,
              targets: list[str] | None = None, adopt: bool = False) -> Plan:
    """Read the cluster (one GET / and one expand request) unless refresh is off, then plan.

    Offsets operations in the plan are checked against the worker (refuse_offsets_problems).
    """
    cluster_id: str | None = None
    urls = shown_urls(ctx)
    if not refresh:
        return build_plan(desired.connectors, desired.sensitive, prior, None, env=ctx.env_name,
                          salt=prior.digest_salt or new_salt(), connect_urls=urls, targets=list(targets or []),
                          adopt=adopt)
    with ctx.client() as client:
        cluster_id = client.server_info().kafka_cluster_id or None
        plan = build_plan(
            desired.connectors, desired.sensitive, prior, client.list_connectors(),
            env=ctx.env_name, salt=prior.digest_salt or new_salt(), kafka_cluster_id=cluster_id,
            connect_urls=urls, targets=list(targets or []), adopt=adopt,
        )
        refuse_offsets_problems(client, plan)
    return plan


def refuse_offsets_problems(client: ConnectClient, plan: Plan) -> None:
    """PlanError naming every offsets operation the worker cannot run (version, unknown partitions)."""
    if not any(c.offsets for c in plan.actions):
        return
    info = client.server_info()
    supported = info.supports("alter_offsets")
    reported = {name: client.offsets(name) for name in set_targets(plan)} if supported else {}
    problems = offsets_problems(plan, info.version, supported, reported)
    if problems:
        raise PlanError("offsets operations that cannot run; nothing was changed:\n  - " + "\n  - ".join(problems),
                        "Fix the offsets key of the connectors named above (or remove it), then plan again.")
