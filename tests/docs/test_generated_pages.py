"""The generated pages (`benchmark.docs`, `bench docs`): the references cover every
subcommand, method and task, with each method's parameters as declared; `bench docs`
writes them all and `--check` names a committed page the records no longer give."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from benchmark.cli.main import build_parser, main
from benchmark.datasets.tasks import list_tasks
from benchmark.docs.citations import code_bases, paper, reference_code
from benchmark.docs.pages import PAGES, render_all
from benchmark.docs.site import Site
from benchmark.method import create_method, load_methods
from tests.paths import ROOT

DOCS = ROOT / "docs"
SITE = Site(DOCS, build_parser(), ROOT / "results")


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return render_all(SITE)


def _section(text: str, heading: str) -> str:
    """The text under `## heading`, up to the next second-level heading."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_pages_name_no_path_of_this_machine(pages: dict[str, str]) -> None:
    for path, text in pages.items():
        for local in {str(ROOT), str(Path.home()), str(Path.cwd())} - {"/"}:
            assert local not in text, f"{path} names {local}"


def test_every_subcommand_and_option_is_in_the_cli_page(pages: dict[str, str]) -> None:
    text = pages["reference/cli.md"]
    sub = next(a for a in SITE.parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sub.choices
    for name, parser in sub.choices.items():
        rows = re.findall(r"^\| `([^`]+)` \|", _section(text, f"bench {name}"), re.M)
        listed = {flag for row in rows for flag in row.split(", ")}
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue  # every command's -h, said once in the introduction
            for flag in action.option_strings or [action.metavar or action.dest]:
                assert flag in listed, f"bench {name} {flag} missing from cli.md"


def test_every_method_and_task_has_a_section(pages: dict[str, str]) -> None:
    for name in load_methods().names():
        assert f"\n## {name}\n" in pages["reference/methods.md"]
    for name in list_tasks():
        assert f"\n## {name}\n" in pages["reference/tasks.md"]


def _row(section: str, param: str) -> list[str]:
    line = next(li for li in section.splitlines() if li.startswith(f"| `{param}` |"))
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_methods_page_round_trips_every_declared_parameter(pages: dict[str, str]) -> None:
    for name in load_methods().names():
        section = _section(pages["reference/methods.md"], name)
        for param, spec in load_methods().get(name).params.items():
            _, kind, default, bounds, space, _ = _row(section, param)
            assert kind == spec.value_type.__name__ and default == f"`{spec.default!r}`"
            if spec.choices is not None:
                assert bounds == "{" + ", ".join(map(repr, spec.choices)) + "}"
            elif spec.low is not None or spec.high is not None:
                low = "-inf" if spec.low is None else repr(spec.low)
                high = "inf" if spec.high is None else repr(spec.high)
                assert bounds == f"[{low}, {high}]", (name, param)
            assert space == (spec.space.describe() if spec.space else "—").replace("|", "\\|")


def test_tracks_follow_the_runners_rule(pages: dict[str, str]) -> None:
    """A method needing the teacher's logits is not applicable in the label-free track,
    one comparing feature maps position by position not on a text target: the reasons
    `benchmark.tracks.not_applicable` gives the runner's records."""
    for name in load_methods().names():
        rows = _section(pages["reference/methods.md"], name).split("### Where it runs")[1]
        label_free = next(li for li in rows.splitlines() if li.startswith("| label-free |"))
        image, text = [c.strip() for c in label_free.split("|")[2:4]]
        method = create_method(name)
        assert image.startswith("not applicable") == method.needs_teacher_logits(), name
        assert text.startswith("not applicable") == (
            method.needs_teacher_logits() or method.needs_spatial_maps()
        ), name


def test_citations_are_read_from_labelled_lines_or_the_opening_citation() -> None:
    doc = "`x`: a loss.\n\nPaper: A et al., Venue 2020, Eq. (3).\nReference code: org/Repo-x.\n"
    assert paper(doc) == "A et al., Venue 2020, Eq. (3)."
    assert reference_code(doc) == "[org/Repo-x](https://github.com/org/Repo-x)."
    doc = '`x`: a loss.\n\nB & C, "A Title: Sub", ICLR\n2019. It uses RepDistiller\'s form.'
    assert paper(doc) == 'B & C, "A Title: Sub", ICLR 2019'
    assert code_bases(doc) == ["HobbitLong/RepDistiller"]
    assert paper("`x`: no citation.\n\nJust prose, 2019.") == ""
    assert code_bases("and/or e/W `org/Repo` x/y.py see hunto/DIST_KD, fine") == ["hunto/DIST_KD"]


def test_bench_docs_writes_then_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, records = tmp_path / "docs", ["--records", str(ROOT / "results")]
    assert main(["docs", "--output", str(out), *records]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.md")) == sorted(PAGES)
    assert main(["docs", "--check", "--output", str(out), *records]) == 0
    page = out / "results.md"
    page.write_text(page.read_text().replace("# Results", "# Result", 1))
    capsys.readouterr()
    assert main(["docs", "--check", "--output", str(out), *records]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(page) in err and "bench docs" in err


def test_bench_docs_refuses_a_file_as_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "docs"
    target.write_text("not a folder")
    assert main(["docs", "--output", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: error: --output")
    assert "is a file, not a folder" in err and target.read_text() == "not a folder"


def test_cli_page_does_not_depend_on_the_terminal(
    pages: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    assert PAGES["reference/cli.md"](Site(DOCS, build_parser())) == pages["reference/cli.md"]
