"""Subcommands of the ``graphad`` command line, one module each."""
