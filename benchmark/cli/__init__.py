"""The command line: `bench` and its subcommands (`main`), `bench run` (`run`),
`bench sweep` (`sweep`) and `bench perf` (`perf`). The top of the import order: nothing
below it imports it."""

from benchmark.cli.main import main

__all__ = ["main"]
