"""docs/reference/cli.md: every `bench` subcommand, read from the real argparse parsers
(`benchmark.cli.main.build_parser`, handed in as `Site.parser`): its help, its usage, and
each argument's flags, help, choices and default. The usage is formatted at a fixed
width, so the page does not depend on the terminal it was generated in."""

from __future__ import annotations

import argparse

from benchmark.docs.markdown import code, page, table
from benchmark.docs.site import Site

WIDTH = 88  # the usage lines' width, fixed (argparse would read $COLUMNS)
INTRO = (
    "Every `bench` subcommand, in the order `bench --help` lists them, with each "
    "argument's help and default as the parsers declare them (`bench <command> --help` "
    "prints the same; every command takes `-h`/`--help`). Bad input to any of them "
    "prints one line naming the value and the fix, and exits with code 2."
)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=WIDTH, max_help_position=WIDTH)


def _value(action: argparse.Action) -> str:
    """What follows an argument's flag in the usage ('' for a switch)."""
    if action.nargs == 0:
        return ""
    if action.metavar is not None:
        name = str(action.metavar)
    elif action.choices is not None:
        name = "{" + ",".join(map(str, action.choices)) + "}"
    else:
        name = action.dest.upper() if action.option_strings else action.dest
    forms = {"?": f"[{name}]", "*": f"[{name} ...]", "+": f"{name} [{name} ...]"}
    return forms.get(str(action.nargs), name)


def _usage_item(action: argparse.Action) -> str:
    if not action.option_strings:
        return _value(action)
    item = " ".join(filter(None, [action.option_strings[-1], _value(action)]))
    return item if action.required else f"[{item}]"


def usage(parser: argparse.ArgumentParser) -> str:
    """`usage: bench CMD ...`, formatted here (argparse's layout differs between Python
    versions and terminal widths): options first, then positionals, wrapped at `WIDTH`."""
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    items = [_usage_item(a) for a in actions if a.option_strings]
    items += [_usage_item(a) for a in actions if not a.option_strings]
    head = f"usage: {parser.prog}"
    lines = [head]
    for item in items:  # an item is never broken across lines
        if len(lines[-1]) + 1 + len(item) > WIDTH and lines[-1].strip():
            lines.append(" " * len(head))
        lines[-1] += " " + item
    return "\n".join(lines)


def _default(action: argparse.Action) -> str:
    value = action.default
    if value is None or value is argparse.SUPPRESS or value is False or value == []:
        return "—"
    return code(value)


def _help(action: argparse.Action, prog: str) -> str:
    """The help as `--help` shows it (`%(default)s` and the like expanded), and the
    allowed values where the argument has choices."""
    text = _formatter(prog)._expand_help(action) if action.help else ""
    if action.choices is not None:
        text = f"{text} (one of: {', '.join(map(str, action.choices))})".strip()
    return text


def arguments_table(parser: argparse.ArgumentParser) -> str:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        flags = ", ".join(action.option_strings) or (action.metavar or action.dest)
        rows.append((code(flags), _help(action, parser.prog), _default(action)))
    if not rows:
        return "No arguments."
    return table(("Argument", "Help", "Default"), rows)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of every subcommand, in `bench --help`'s order."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
    return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]


def command_section(name: str, help_text: str, parser: argparse.ArgumentParser) -> str:
    block = f"```text\n{usage(parser)}\n```"
    return "\n\n".join([f"## bench {name}", help_text, block, arguments_table(parser)])


def render(site: Site) -> str:
    """The whole page, from `site.parser`."""
    commands = _subcommands(site.parser)
    index = table(
        ("Command", "What it does"), [(f"[bench {n}](#bench-{n})", h) for n, h, _ in commands]
    )
    return page("CLI reference", INTRO, [index, *(command_section(*c) for c in commands)])
