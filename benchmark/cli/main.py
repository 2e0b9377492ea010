"""`bench`: assembles the subcommands (`benchmark.cli.commands`) into one parser and
dispatches to the chosen one's handler.

Bad input (an unknown name, a bad value, a missing file) prints one line naming the
value and how to fix it, exits with code 2, and leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from rich.console import Console

from benchmark.cli.commands import COMMANDS
from benchmark.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as a one-line UserError."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bench", description="XMD-Bench: cross-modal distillation benchmark")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.add_arguments(sub.add_parser(command.name, help=command.help))
    # The whole parser, for `bench docs`, which documents it (its module cannot import this
    # one: this one imports every command).
    parser.set_defaults(bench_parser=parser)
    return parser


def reject_empty(argv: Sequence[str]) -> None:
    """An empty (or blank) value for any option, `--profile ''` or `--out=`, and an empty
    argument are errors, never "the default": argparse would take them (and `Path('')` is
    the working folder). Checked here once, for every option of every command."""
    previous = ""
    for token in argv:
        if token.startswith("--") and "=" in token:
            name, _, value = token.partition("=")
            if not value.strip():
                raise UserError(f"{name} '{value}' is empty: give a value or leave {name} out")
        elif not token.strip():
            if previous.startswith("-") and "=" not in previous:
                raise UserError(
                    f"{previous} '{token}' is empty: give a value or leave {previous} out"
                )
            raise UserError(f"an empty argument '{token}': give a value (see 'bench --help')")
        previous = token


def main(argv: Sequence[str] | None = None) -> int:
    console = Console()
    try:
        reject_empty(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
        handle = {command.name: command.handle for command in COMMANDS}[args.command]
        return handle(args, console)
    except UserError as err:
        print(f"bench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; finished cells are kept, re-run to resume", file=sys.stderr)
        return 130
    except Exception as err:
        from benchmark.storage import disk_full, full_disk_message

        if not disk_full(err):
            raise
        print(f"bench: error: {full_disk_message(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
