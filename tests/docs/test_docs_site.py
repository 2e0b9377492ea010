"""The documentation: the site builds with warnings as errors, the README stays short and
names every registered method and task, and every `bench ...` command the README and the
prose pages show is one the CLI accepts.

The commands are checked in this process, not one subprocess each (a `bench` process
spends seconds importing): each line is parsed by the real parser (`build_parser`), and a
`bench run` line is also resolved as `bench run` resolves its inputs before the first
cell — the profile, the config file, every `--set`, the methods' settings, the method and
task names, the tracks and the executor settings. A `pairs:<path>` task is a folder
checked when it runs, so only its name's form is checked here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from benchmark.cli.main import build_parser, reject_empty
from benchmark.errors import UserError
from tests.paths import ROOT

README = ROOT / "README.md"
MAX_README_LINES = 250
# The hand-written pages (the generated ones under docs/reference/ and docs/results.md are
# checked by their generators' tests).
PROSE = sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "results.md")
FENCE = re.compile(r"^```([\w-]*)\s*$")


def shell_blocks(path: Path) -> list[str]:
    """The logical lines of a Markdown file's shell code blocks (```bash, ```sh or an
    unlabelled fence), backslash continuations joined."""
    lines: list[str] = []
    language: str | None = None
    pending = ""
    for raw in path.read_text().splitlines():
        match = FENCE.match(raw.strip())
        if match:
            language = None if language is not None else match.group(1)
            continue
        if language not in ("bash", "sh", "shell", ""):
            continue
        text = pending + raw.strip()
        if text.endswith("\\"):
            pending = text[:-1] + " "
            continue
        pending = ""
        lines.append(text)
    return lines


def bench_commands(path: Path) -> list[list[str]]:
    """Every `bench ...` command in a file's shell blocks, as argv without `bench`: a line
    may chain commands with `&&` (the install lines) and end with a `#` comment."""
    commands = []
    for line in shell_blocks(path):
        for part in line.split("&&"):
            if part.strip().startswith("bench "):  # not a listing's `bench: error: ...`
                commands.append(shlex.split(part, comments=True)[1:])
    return commands


def check_command(argv: list[str], settings: bool = True) -> None:
    """Raise UserError unless `bench <argv>` parses, and, for `bench run`, unless its
    inputs resolve as `bench run` resolves them before anything runs; without `settings`,
    only its method, task and track names (a page's example may name a file of the
    reader's, such as a checkpoint for `teacher.weights`)."""
    reject_empty(argv)
    args = build_parser().parse_args(argv)
    if args.command != "run":
        return
    from benchmark.cli.run import resolve_config
    from benchmark.datasets.tasks import TASKS
    from benchmark.execution.executor_settings import from_args
    from benchmark.method import load_methods
    from benchmark.tracks import parse_tracks

    load_methods().resolve(args.methods)
    names = [n.strip() for n in args.tasks.split(",")]
    if args.tasks.strip() != "all":
        for name in names:
            if not name.startswith("pairs:"):
                TASKS.canonical(name)
    parse_tracks(args.tracks)
    if settings:
        request = resolve_config(args)  # profile, --config, --set, the methods' settings
        from_args(args, request.executor_section)


def test_site_builds_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict`: every page in the nav exists, every internal link and
    anchor resolves, every included file (CONTRIBUTING.md, CHANGELOG.md) is found."""
    for module in ("mkdocs", "material"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install -e '.[test]' (or '.[docs]')")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "index.html").is_file()


def test_readme_is_short() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"


def test_readme_names_every_method_and_task() -> None:
    from benchmark.datasets.tasks import TASKS
    from benchmark.method import load_methods

    text = README.read_text()
    missing = [m for m in load_methods().names() if f"`{m}`" not in text]
    missing += [t for t in TASKS.names() if f"`{t}`" not in text]
    assert not missing, f"README.md's tables lack {missing}"


def test_commands_in_readme_and_getting_started_are_valid() -> None:
    getting_started = ROOT / "docs" / "getting-started.md"
    commands = bench_commands(README) + bench_commands(getting_started)
    # The install-and-run lines, the tour and the getting-started page: many commands, and
    # among them `bench run` lines, whose names are resolved.
    assert len(commands) >= 20
    assert sum(argv[0] == "run" for argv in commands) >= 5
    for argv in commands:
        try:
            check_command(argv)
        except UserError as err:
            pytest.fail(f"bench {shlex.join(argv)}: {err}")


@pytest.mark.parametrize("page", PROSE, ids=lambda p: p.name)
def test_commands_in_prose_pages_are_valid(page: Path) -> None:
    for argv in bench_commands(page):
        try:
            check_command(argv, settings=False)
        except UserError as err:
            pytest.fail(f"{page.name}: bench {shlex.join(argv)}: {err}")


@pytest.mark.parametrize(
    "argv",
    [
        "run --methods kd,nosuch --tasks sketch-cls",  # an unknown method
        "run --tasks sketch-cls,nosuch",  # an unknown task
        "run --set l2.weight=-1",  # out of the parameter's bounds
        "run --tracks supervised,nosuch",  # an unknown track
        "run --profile nosuch",  # an unknown profile
        "compare --nosuch",  # an unknown option
    ],
)
def test_the_command_check_rejects_bad_commands(argv: str) -> None:
    """The check above is the CLI's own: a command it must refuse is refused."""
    with pytest.raises(UserError):
        check_command(shlex.split(argv))


def test_extraction_reads_chained_continued_and_commented_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\n"
        "pip install -e . && bench list tasks  # a comment\n"
        "bench run --methods kd \\\n"
        "    --tasks sketch-cls\n"
        "```\n"
        "```yaml\n"
        "bench: not a command\n"
        "```\n"
    )
    assert bench_commands(page) == [
        ["list", "tasks"],
        ["run", "--methods", "kd", "--tasks", "sketch-cls"],
    ]


def test_world_knob_table_matches_the_world_defaults() -> None:
    """docs/tasks.md's knob table gives each knob's default; they are the code's."""
    from benchmark.datasets.world import WorldConfig

    defaults = {f.name: f.default for f in fields(WorldConfig)}
    page = (ROOT / "docs" / "tasks.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| ([-\d.]+) \|", page, re.M)
    assert len(rows) >= 7
    for knob, value in rows:
        assert knob in defaults, f"docs/tasks.md names an unknown knob {knob}"
        assert float(value) == defaults[knob], f"{knob}: docs say {value}, code {defaults[knob]}"


def test_record_schema_page_lists_every_payload_section_and_legacy_rule() -> None:
    from benchmark.hashing import LEGACY_RULES, PAYLOAD_SCHEMA
    from benchmark.results.records import Record

    text = (ROOT / "docs" / "record-schema.md").read_text()
    names = [f"`{f.name}`" for f in fields(Record)]
    names += [f"`{section}`" for section in PAYLOAD_SCHEMA]
    names += [f"`{rule.name}`" for rule in LEGACY_RULES]
    missing = [n for n in names if n not in text]
    assert not missing, f"docs/record-schema.md lacks {missing}"


def test_every_task_has_a_docs_page_entry() -> None:
    from benchmark.datasets.tasks import TASKS

    text = "".join((ROOT / "docs" / name).read_text() for name in ("tasks.md", "real-datasets.md"))
    missing = [t for t in TASKS.names() if f"`{t}`" not in text]
    assert not missing, f"docs/tasks.md and docs/real-datasets.md lack {missing}"


def test_readme_links_resolve() -> None:
    """Every relative link in README.md names a file of the repository, and an anchor one
    of that page's headings (mkdocs checks the site's own pages; README is not one)."""
    slugify = pytest.importorskip("markdown.extensions.toc").slugify  # mkdocs' anchors
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert len(local) >= 10
    for link in local:
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.is_file(), f"README.md links to {path}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.M)
            slugs = {slugify(h.strip(), "-") for h in headings}
            assert anchor in slugs, f"README.md links to {link}: no such heading"


def test_gap_page_constants_are_the_code_s() -> None:
    """docs/gap.md names the gap estimates' sizes (`GAP_DIM` = 16, ...); they are the
    code's (the pairs' in gaps.py, the common space's in gap_estimators.py)."""
    from benchmark.protocol import gap_estimators, gaps

    code = {**vars(gap_estimators), **vars(gaps)}
    stated = re.findall(r"`(GAP_\w+)` = ([\d,]+)", (ROOT / "docs" / "gap.md").read_text())
    assert len(stated) >= 3
    for name, value in stated:
        assert int(value.replace(",", "")) == code[name], f"{name} is not {value}"
