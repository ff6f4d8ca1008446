"""State backends: where one environment's state, its backup and its lock live (docs/state-backends.md).

``local`` (the default) is a file on this disk; ``s3`` an object in a bucket, for teams and CI runners
that share no disk. Each implements kcplan.state.backends.base.StateBackend; StateStore does the rest.
"""
