"""`bench report`: a self-contained page that a real (headless) browser loads without
errors, showing every method of every task, with everything from records escaped."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from benchmark.cli.main import main
from benchmark.results.records import REFERENCE, Record, write_record
from benchmark.results.report import render_report

HOSTILE = "<img src=x onerror=alert(1)>"  # a method name a folder can hold (no '/')
METHODS = ("scratch", "l2", "kd", HOSTILE)


def _curves(task: str, method: str, seed: int) -> dict:
    """Distillation curves for the classification task's distilling methods (two terms
    for one of them), none elsewhere: the report draws one curve figure."""
    if task != "sketch-cls" or method in ("scratch", REFERENCE):
        return {}
    terms = {"l2": [2.0 - 0.3 * e + 0.05 * seed for e in range(4)]}
    if method == "kd":
        terms["ce"] = [1.0, 0.8, 0.7, 0.6 + 0.01 * seed]
    return {"distill": {**terms, "lr": [0.05, 0.04, 0.02, 0.005]}}


def _rec(task: str, method: str, seed: int, status: str = "ok", **metrics: float) -> Record:
    return Record(
        curves=_curves(task, method, seed),
        task=task,
        method=method,
        seed=seed,
        status=status,
        config_hash=f"{task}{method}{seed}",
        profile="smoke",
        metrics=metrics,
        git="0123456789abcdef" * 2 + "0123456+dirty",
        host="<b>host</b>",
        device="cpu",
        versions={"torch": "2.4", "torch_threads": "2"},
        reason="" if status == "ok" else "RuntimeError: </script><script>alert(2)</script>",
    )


def records() -> list[Record]:
    """Two tasks (one of each kind), three seeds, a reference cell, a failed cell."""
    out = []
    for seed in range(3):
        out.append(_rec("sketch-cls", REFERENCE, seed, teacher_acc=0.8, all_labels_acc=0.7))
        out.append(_rec("depth-seg", REFERENCE, seed, teacher_miou=0.4, all_labels_miou=0.3))
        for i, method in enumerate(METHODS):
            score = 0.3 + 0.05 * i + 0.01 * seed
            out.append(_rec("sketch-cls", method, seed, finetune_acc=score, probe_acc=score - 0.1))
            out.append(
                _rec("depth-seg", method, seed, finetune_miou=score / 3, probe_miou=score / 4)
            )
    out.append(_rec("sketch-cls", "crd", 0, status="failed"))
    return out


def test_everything_from_records_is_escaped() -> None:
    evil = "</script><script>alert(3)</script>"
    page = render_report([*records(), _rec("sketch-cls", evil, 0, finetune_acc=0.5)], "o", [])
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>host" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(3)" in page  # shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count("<script") == page.count("</script>")  # no script ended early


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run installs it)")


class _Dom(HTMLParser):
    """The dumped DOM's elements: tag names, body attributes, leaderboard rows."""

    def __init__(self) -> None:
        super().__init__()
        self.classes: list[str] = []
        self.tags: list[str] = []
        self.body: dict[str, str] = {}
        self.rows: set[tuple[str, str]] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        self.classes.append(found.get("class", ""))
        if tag == "body":
            self.body = found
        if "data-task" in found and "data-method" in found:
            self.rows.add((found["data-task"], found["data-method"]))


def test_the_page_loads_in_headless_chromium(tmp_path: Path) -> None:
    browser = _browser()
    out = tmp_path / "out"
    for record in records():
        write_record(out, record)
    for value in ("0", "1"):  # a sweep: OUT/sweeps/KNOB/VALUE is a run's folder
        for seed, method in ((0, "l2"), (1, "l2"), (0, "kd")):
            score = {"finetune_acc": 0.5 - 0.1 * float(value), "gap_tv": 0.8 + 0.05 * seed}
            write_record(
                out / "sweeps/world.depth_noise" / value, _rec("sketch-cls", method, seed, **score)
            )
    page = tmp_path / "report.html"
    assert main(["report", "--out", str(out), "--html", str(page)]) == 0
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    flags += [f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    flags += ["--enable-logging=stderr", "--v=0"]
    url = page.resolve().as_uri()
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    )
    assert "Uncaught" not in dom.stderr, dom.stderr[-2000:]
    parsed = _Dom()
    parsed.feed(dom.stdout)
    # the page's own script ran to its end, every figure drawn, no error caught
    assert parsed.body.get("data-ready") == "ok", parsed.body
    assert parsed.body["data-errors"] == "0"
    assert (
        int(parsed.body["data-figures"]) == 4 == int(parsed.body["data-drawn"])
    )  # 2 tasks, the classification task's curves, 1 sweep
    # the curves: a panel per distilling method (l2, kd, the hostile one, and the failed
    # crd cell's), a band drawn per loss term (kd has two); no other figure fills an area
    assert parsed.classes.count("figure curves") == 1
    assert parsed.classes.count("js-fill") == 5
    assert parsed.tags.count("svg") >= 2  # Plotly drew into the page
    assert "img" not in parsed.tags  # the hostile name stayed text
    assert parsed.rows == {(t, m) for t in ("sketch-cls", "depth-seg") for m in METHODS}
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, "--window-size=1200,1600", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, tables, a figure: not blank


def test_task_links_are_labelled_by_track_and_a_smoke_page_says_it_is_no_result() -> None:
    """Two tracks: the task links come once per track, on a line named by its track and
    linked to its section; the smoke records' page says first that it is no result."""
    both = [*records(), *(_rec_in("label-free", r) for r in records())]
    page = render_report(both, "o", [])
    nav = page[page.index("<nav>") : page.index("</nav>")]
    lines = nav.split("<div>")[1:]
    assert [line.split(" track</a>: ")[0].rsplit(">", 1)[1] for line in lines] == [
        "supervised",
        "label-free",
    ]
    for track, line in zip(("supervised", "label-free"), lines, strict=True):
        assert f'href="#track-{track}"' in line and f'id="track-{track}"' in page
        assert f'href="#{track}-sketch-cls"' in line and f'href="#{track}-depth-seg"' in line
    head = page[page.index("<h1>") : page.index("<nav>")]
    assert "Not the benchmark's results.</b> smoke profile: a plumbing check" in head
    one = render_report(records(), "o", [])  # one track: one line, no track named
    assert "track</a>" not in one[one.index("<nav>") : one.index("</nav>")]


def _rec_in(track: str, record: Record) -> Record:
    return dataclasses.replace(record, track=track, config_hash=record.config_hash + track)
