"""The command line: `bench` (`main` assembles it) and one module per subcommand, each
declaring its parser and handler (`commands` lists them; `common` holds what they share).
The top of the import order: nothing below it imports it."""

from benchmark.cli.main import main

__all__ = ["main"]
