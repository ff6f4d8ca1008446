"""One module per CLI command: ``configure(parser)`` adds its options, ``run(args) -> exit code``."""
