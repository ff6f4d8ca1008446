"""kcplan heal: restart FAILED connectors and tasks with Strimzi-like backoff (docs/heal.md).

``policy`` decides (pure: statuses, state and clock passed in); ``attempts`` keeps the restarts made
across runs in ``<state>.heal.json``; the command (kcplan/commands/heal.py) does the I/O.
"""
