"""`bench report --out DIR [--html PATH]`: one self-contained static HTML page of a
results folder's records, to open in a browser (no server, nothing fetched).

What it shows, per track and task: the leaderboard (`benchmark.results.aggregate.summarize`:
means, 95% t intervals, paired Δs marked when resolved after Holm, rank sets), its
resolution line and input gap, the headroom table (`headroom_lines`), each method's
per-seed results as a figure and a table, how each method's distillation loss went per
epoch (`benchmark.results.report_curves`), the not-applicable and failed cells, and the
sweep figures of `DIR/sweeps`. Every per-seed value carries its record's provenance
(git, created, host, device, threads, config hash): on hover, and in a panel on click.
Nothing is computed here that the leaderboard does not compute. The page opens, like the
board, with the caveat of records that are no results (`benchmark.results.caveat`), and
its task links come one line per track, named by it.

Everything taken from a record is HTML-escaped, and the JSON the page's script reads has
`<`, `>` and `&` escaped, so no name or reason can become markup. When its scripts have
run the page sets `data-ready="ok"` on <body> (and the figure and error counts), which is
what the headless-browser test checks.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from pathlib import Path

import pandas as pd

from benchmark.errors import UserError
from benchmark.results.caveat import caveat
from benchmark.results.compare import track_of
from benchmark.results.leaderboard import (
    BASELINE,
    headroom_lines,
    input_gap_line,
    metric_suffix,
    resolution,
    resolution_line,
    short_commit,
    summarize,
)
from benchmark.results.records import REFERENCE, Record, read_records, records_frame
from benchmark.results.report_curves import curves_figure, distill_bands
from benchmark.results.report_figures import Figures, seeds_figure, sweep_figure
from benchmark.storage import check_target, check_writable, write_text

e = html.escape


def provenance(record: Record) -> dict[str, str]:
    """What a record says about where it came from."""
    return {
        "cell": f"{record.task} · {track_of(record)} · {record.method} · seed {record.seed}",
        "status": record.status + (f": {record.reason}" if record.reason else ""),
        "profile": record.profile,
        "git": record.git,
        "created": record.created,
        "host": record.host,
        "device": record.device,
        "threads": str(record.versions.get("torch_threads", "?")),
        "config hash": record.config_hash,
        "versions": ", ".join(
            f"{k} {v}" for k, v in sorted(record.versions.items()) if k != "torch_threads"
        ),
    }


def _hover(record: Record) -> str:
    prov = provenance(record)
    keys = ("cell", "git", "created", "host", "device", "threads", "config hash")
    return "<br>".join(e(f"{k}: {prov[k]}") for k in keys)


def _title(record: Record) -> str:
    return "\n".join(f"{k}: {v}" for k, v in provenance(record).items())


def _script_json(payload: object) -> str:
    """JSON safe inside <script>: no `</script>`, `<!--` or entity can appear in it."""
    text = json.dumps(payload, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _md(text: str) -> str:
    """One cell or line of the leaderboard's markdown as HTML: its escapes undone (`\\|`,
    `\\*`, and the entities of `_cell`), escaped again for HTML, `**bold**` kept."""
    text = text.replace("\\|", "|").replace("\\`", "`").replace("\\*", "\x01")
    text = e(html.unescape(text))
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text).replace("\x01", "*")


def md_table(lines: list[str]) -> str:
    """The markdown tables among `lines` (the leaderboard's) as HTML tables."""
    rows = [re.split(r"(?<!\\)\|", line.strip())[1:-1] for line in lines if line.startswith("|")]
    if len(rows) < 2:
        return ""
    right = [cell.strip().endswith(":") for cell in rows[1]]
    head = "".join(f"<th>{_md(c.strip())}</th>" for c in rows[0])
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if r else ""}">{_md(c.strip())}</td>'
            for c, r in zip(row, right, strict=False)
        )
        + "</tr>"
        for row in rows[2:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pct(mean: float, ci: float = float("nan"), signed: bool = False, mark: bool = False) -> str:
    if pd.isna(mean):
        return "—"
    text = f"{100 * mean:+.1f}" if signed else f"{100 * mean:.1f}"
    text += "" if pd.isna(ci) else f" ± {100 * ci:.1f}"
    return text + ("*" if mark else "")


def board_table(board: pd.DataFrame) -> str:
    """The task's leaderboard rows (summarize's) as an HTML table."""
    metric, probe = board["metric"].iloc[0], board["probe_metric"].iloc[0]
    head = ["rank set", "method", f"{metric} (%)", f"Δ vs {BASELINE}", "Δ vs best other"]
    head += [f"{probe} (%)", "gap_tv", "gap_cka", "seeds"]
    rows = []
    for _, row in board.iterrows():  # sorted by mean (summarize's order)
        best = f" ({e(str(row['best_other']))})" if row["best_other"] else ""
        cells = [
            e(str(row["rank"])),
            f"<strong>{e(str(row['method']))}</strong>",
            _pct(row["mean"], row["ci"]),
            _pct(row["gain"], row["gain_ci"], True, bool(row["gain_sig"])),
            _pct(row["vs_best"], row["vs_best_ci"], True, bool(row["vs_best_sig"])) + best,
            _pct(row["probe_mean"], row["probe_ci"]),
            "—" if pd.isna(row["gap_tv"]) else f"{row['gap_tv']:.2f}",
            "—" if pd.isna(row["gap_cka"]) else f"{row['gap_cka']:.2f}",
            str(row["seeds"]),
        ]
        attrs = f'data-task="{e(str(row["task"]))}" data-method="{e(str(row["method"]))}"'
        rows.append(f"<tr {attrs}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    heads = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join(rows)
    return f'<table class="board"><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>'


class Page:
    """The page being built: its sections, its figures and the records it indexes."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.index = {id(r): i for i, r in enumerate(records)}
        self.hover = [_hover(r) for r in records]
        self.figures = Figures()
        self.parts: list[str] = []

    def cell(self, record: Record | None, metric: str) -> str:
        if record is None:
            return "<td></td>"
        value = record.metrics.get(metric)
        shown = record.status if not record.ok else "—" if value is None else f"{100 * value:.1f}"
        return (
            f'<td class="rec {e(record.status)}" data-rec="{self.index[id(record)]}" '
            f'title="{e(_title(record))}">{e(shown)}</td>'
        )

    def task(self, records: list[Record], board: pd.DataFrame, task: str, track: str) -> None:
        own = [r for r in records if r.task == task]
        metric = board["metric"].iloc[0]
        suffix = metric_suffix(metric)
        refs = [r for r in own if r.method == REFERENCE]
        methods = [r for r in own if r.method != REFERENCE]
        self.parts.append(f'<section class="task" id="{e(_anchor(track, task))}">')
        self.parts.append(f"<h3>{e(task)}</h3>")
        ref_frame = records_frame([r for r in refs if r.ok])
        for line in input_gap_line(ref_frame) if len(ref_frame) else []:
            if line:
                self.parts.append(f"<p>{_md(line)}</p>")
        res = resolution(records, task, track) if "track" in board else resolution(records, task)
        self.parts += [f"<p>{_md(line)}</p>" for line in resolution_line(res) if line]
        self.parts.append(board_table(board))
        missing = [r for r in methods if not r.ok]
        if missing:
            items = "".join(
                f"<li>{e(r.method)} · seed {r.seed} · {e(r.status)}: {e(r.reason[:300])}</li>"
                for r in missing
            )
            self.parts.append(f'<ul class="missing">{items}</ul>')
        points = [(r.method, r.metrics[metric], self.index[id(r)]) for r in methods if r.ok]
        points = [p for p in points if p[1] is not None]
        fig = seeds_figure(task, metric, points, board, self.hover)
        self.parts.append(self.figures.html(fig, "seeds"))
        self.parts.append(self.seed_table(own, board, suffix, metric))
        curves = curves_figure(task, track, distill_bands(own, task, track))
        if curves is not None:
            self.parts.append(self.figures.html(curves, "curves"))
        self.parts.append("</section>")

    def seed_table(self, own: list[Record], board: pd.DataFrame, suffix: str, metric: str) -> str:
        """Rows: methods (ranked), then the teacher and the all-labels ceiling; columns:
        seeds. Each value is its record: hover for the provenance, click for the panel."""
        seeds = sorted({r.seed for r in own})
        by = {(r.method, r.seed): r for r in own}
        order = list(board.method)  # sorted by mean
        order += sorted({r.method for r in own} - set(order) - {REFERENCE})
        rows = [(m, m, metric) for m in order]
        rows += [
            ("teacher (source)", REFERENCE, f"teacher_{suffix}"),
            ("all target labels", REFERENCE, f"all_labels_{suffix}"),
        ]
        head = "".join(f"<th>seed {s}</th>" for s in seeds)
        body = []
        for label, method, name in rows:
            cells = "".join(self.cell(by.get((method, s)), name) for s in seeds)
            body.append(f"<tr><th>{e(label)}</th>{cells}</tr>")
        return (
            f'<table class="seeds"><thead><tr><th>{e(metric)} (%)</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
        )


def _anchor(track: str, task: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"{track}-{task}")


def _tracks(table: pd.DataFrame) -> list[str]:
    if "track" not in table:
        return [""]
    return sorted(set(table["track"]), key=lambda t: (t != "supervised", t))


def _nav(links: dict[str, list[str]]) -> str:
    """The task links, one line per track, each line named by its track and linked to its
    section (a task has a section in every track it ran in); one unnamed line for one."""
    lines = []
    for track, own in links.items():
        named = len(links) > 1
        name = f'<a href="#{e(_anchor("track", track))}">{e(track)} track</a>: ' if named else ""
        lines.append(f"<div>{name}{' · '.join(own)}</div>")
    return f"<nav>{''.join(lines)}</nav>"


def render_report(records: list[Record], source: str, sweeps: list[Path]) -> str:
    """The whole page."""
    from benchmark.results.plots import sweep_points
    from benchmark.results.sweeps import sweep_frame

    page = Page(records)
    table = summarize(records)
    frame = records_frame(records)
    refs = frame[(frame.method == REFERENCE) & (frame.status == "ok")] if len(frame) else frame
    tracks = _tracks(table)
    nav: dict[str, list[str]] = {}
    for track in tracks:
        board = table[table.track == track] if track else table
        track_refs = refs[refs.track == track] if track and "track" in refs else refs
        own = [r for r in records if not track or track_of(r) == track]
        if len(tracks) > 1:
            page.parts.append(f'<h2 id="{e(_anchor("track", track))}">Track: {e(track)}</h2>')
        headroom = headroom_lines(board, track_refs)
        page.parts.append(f"<h3>Headroom</h3>{md_table(headroom)}")
        for task, group in board.groupby("task", sort=True):
            link = f'<a href="#{e(_anchor(track, str(task)))}">{e(str(task))}</a>'
            nav.setdefault(track, []).append(link)
            page.task(own, group, str(task), track)
    for folder in sweeps:
        points = sweep_points(sweep_frame(folder))
        if len(points):
            page.parts.append(f"<h2>Sweep: {e(folder.name)}</h2>")
        for task, group in points.groupby("task", sort=True):
            fig = sweep_figure(folder.name, str(task), group)
            page.parts.append(page.figures.html(fig, "sweep"))
    profiles = ", ".join(sorted({r.profile for r in records}))
    commits = ", ".join(sorted({short_commit(r.git) for r in records}))
    found = caveat(records)
    warning = "Not the benchmark's results."
    warning = "" if found is None else f'<p class="caveat"><b>{warning}</b> {e(found)}.</p>'
    header = (
        f"<h1>XMD-Bench report</h1>{warning}<p>{len(records)} records in "
        f"<code>{e(source)}</code> · profile {e(profiles)} · commit {e(commits)} · generated "
        f"{dt.date.today().isoformat()} by <code>bench report</code>. Hover a value for "
        "its record's provenance, click it for the details. ± is the half-width of a 95% "
        "t interval over seeds; * marks a difference resolved after Holm's correction over "
        "the task's pairwise hypotheses; the rank set holds every rank the resolved "
        "differences allow (docs/statistics.md, LEADERBOARD.md).</p>" + _nav(nav)
    )
    data = _script_json([provenance(r) for r in records])
    return TEMPLATE.format(
        title=e(f"XMD-Bench report · {source}"),
        style=STYLE,
        body=header + "\n".join(page.parts),
        data=data,
        script=SCRIPT,
    )


def report_command(out: Path, target: Path | None) -> Path:
    """`bench report`: check the inputs, then write the page (atomically)."""
    from benchmark.results.sweeps import find_sweeps

    if not (out / "runs").is_dir():
        raise UserError(f"no records under '{out / 'runs'}': run 'bench run --out {out}' first")
    skipped: list[tuple[Path, str]] = []
    records = read_records(out, skipped)
    if not any(r.ok for r in records):
        bad = f"; {len(skipped)} file(s) skipped, e.g. {skipped[0][0]}" if skipped else ""
        raise UserError(f"no finished record under '{out / 'runs'}'{bad}")
    target = target if target is not None else out / "report.html"
    check_target(target, "--html")
    check_writable(target.parent, "the folder of --html")
    text = render_report(records, str(out), find_sweeps(out))
    write_text(target, text)
    return target


TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script>window.reportErrors = [];
window.addEventListener("error", function (ev) {{ window.reportErrors.push(String(ev.message)); }});
</script><style>{style}</style></head>
<body data-ready="no">{body}
<div id="provenance" hidden><button type="button" id="close">×</button><dl></dl></div>
<script type="application/json" id="records">{data}</script>
<script>{script}</script></body></html>
"""

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1200px;
  color: #222; padding: 0 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f3f4f6; text-align: left; }
td.num, table.board td, table.seeds td { text-align: right; }
table.board td:nth-child(2) { text-align: left; }
td.rec { cursor: pointer; }
td.rec:hover { background: #e8f0fe; }
td.failed { color: #b00; }
td.not_applicable { color: #888; }
section.task { border-top: 2px solid #ccc; margin-top: 24px; }
nav a { margin: 0 4px; }
.caveat { border-left: 4px solid #c00; padding: 4px 8px; background: #fff4f4; }
ul.missing { color: #666; }
code { background: #f3f4f6; padding: 0 3px; }
#provenance { position: fixed; right: 16px; top: 16px; background: #fff; max-width: 480px;
  border: 1px solid #888; padding: 8px 12px; box-shadow: 0 2px 8px #0003; font-size: 13px; }
#provenance dt { font-weight: 600; }
#provenance dd { margin: 0 0 4px 0; word-break: break-all; }
#close { float: right; }
"""

SCRIPT = """(function () {
  var records = JSON.parse(document.getElementById("records").textContent);
  var panel = document.getElementById("provenance");
  function show(i) {
    var list = panel.querySelector("dl"), rec = records[i];
    list.textContent = "";
    Object.keys(rec).forEach(function (key) {
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = key; dd.textContent = rec[key];
      list.appendChild(dt); list.appendChild(dd);
    });
    panel.hidden = false;
  }
  document.getElementById("close").onclick = function () { panel.hidden = true; };
  document.addEventListener("click", function (ev) {
    var cell = ev.target.closest ? ev.target.closest("[data-rec]") : null;
    if (cell) show(Number(cell.getAttribute("data-rec")));
  });
  function finish() {
    var divs = document.querySelectorAll(".plotly-graph-div");
    var drawn = document.querySelectorAll(".plotly-graph-div.js-plotly-plot").length;
    document.querySelectorAll(".figure.seeds .plotly-graph-div").forEach(function (div) {
      if (div.on) div.on("plotly_click", function (d) { show(d.points[0].customdata); });
    });
    var ok = window.Plotly && drawn === divs.length && window.reportErrors.length === 0;
    document.body.setAttribute("data-figures", String(divs.length));
    document.body.setAttribute("data-drawn", String(drawn));
    document.body.setAttribute("data-errors", window.reportErrors.join(" | ") || "0");
    document.body.setAttribute("data-ready", ok ? "ok" : "incomplete");
  }
  if (document.readyState === "complete") finish();
  else window.addEventListener("load", finish);
})();"""
