"""Every `bench` subcommand, in the order `bench --help` lists them. A new subcommand is
a module here declaring a `COMMAND` (`benchmark.cli.common.Command`) and one line below."""

from __future__ import annotations

from benchmark.cli import (
    compare,
    data,
    docs,
    leaderboard,
    listing,
    perf,
    plot,
    power,
    report,
    run,
    status,
    sweep,
    tune,
    validate,
)
from benchmark.cli.common import Command

COMMANDS: tuple[Command, ...] = (
    run.COMMAND,
    sweep.COMMAND,
    tune.COMMAND,
    plot.COMMAND,
    listing.COMMAND,
    leaderboard.COMMAND,
    power.COMMAND,
    validate.COMMAND,
    status.COMMAND,
    data.COMMAND,
    compare.COMMAND,
    report.COMMAND,
    perf.COMMAND,
    docs.COMMAND,
)
