"""Exports beside the Markdown board and `results.csv`: LaTeX tables to paste into a paper,
and a parquet file of the records to load into pandas, polars or DuckDB.

`latex` renders the board's own per-method rows (`benchmark.results.aggregate.summarize`),
one booktabs table per task and track, with the numbers as the board prints them (percent,
one decimal, ± the half-width of the 95% interval, * where the board marks a difference
resolved after Holm) and the board's rank sets and verdicts. Nothing is computed here
that the board does not compute. Every name from a record is escaped for LaTeX.

`records_table` is one row per record: the identity and metric columns of `results.csv`
(`records_frame`), then the reason and provenance, `loss.<term>` (the last epoch's means),
`seconds.<stage>`, `curve.<stage>.<series>` (the per-epoch lists of
`benchmark.protocol.curves`), and the free-form mappings (`config`, `teacher`, `data`,
`versions`) as JSON text. The per-sample outcomes are left out: they are what the records
are for, not a table. `write_parquet` needs pyarrow (`pip install 'xmd-bench[parquet]'`).

Records that are not the benchmark's results (a smoke run, too few seeds:
`benchmark.results.caveat`) say so in both, as the board does at its top: the LaTeX as a
comment line and a note opening every caption (a table pasted alone still carries it),
the parquet file as the schema metadata key `CAVEAT_KEY` (absent when there is none).
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.errors import UserError
from benchmark.results.aggregate import BASELINE, short_commit, summarize
from benchmark.results.board_prose import VERDICT_TEXT
from benchmark.results.caveat import NOT_RESULTS, caveat
from benchmark.results.ranks import MARGIN
from benchmark.results.records import Record, records_frame
from benchmark.storage import atomic_write
from benchmark.tracks import TRACKS

_LATEX = {
    "\\": r"$\backslash$",
    "&": r"\&",
    "%": r"\%",
    "$": r"$\$$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"$\sim$",
    "^": r"\^{}",
    "<": r"$<$",
    ">": r"$>$",
    "–": "--",
}


def tex(value: object) -> str:
    """A name or text from a record as inert LaTeX on one line (math-mode forms for the
    symbols the default font encoding lacks, so no extra font is needed)."""
    text = " ".join(str(value).splitlines())
    return "".join(_LATEX.get(ch, ch) for ch in text)


def _pct(mean: float, ci: float = math.nan, signed: bool = False, mark: bool = False) -> str:
    """The board's number format: percent, one decimal, `± half-width`, `*` if resolved."""
    if pd.isna(mean):
        return "--"
    text = f"{100 * mean:+.1f}" if signed else f"{100 * mean:.1f}"
    text = text.replace("-", "$-$")  # a minus sign, not a hyphen
    if not pd.isna(ci):
        text += rf" $\pm$ {100 * ci:.1f}"
    return text + ("$^{*}$" if mark else "")


CAVEAT_KEY = b"xmd-bench.caveat"  # the parquet schema's metadata key of `caveat`


def latex_table(
    group: pd.DataFrame, track: str, task: str, margin: float = MARGIN, note: str | None = None
) -> str:
    """One (task, track)'s rows as a booktabs table (a `table` float), in the board's
    order (summarize's: by mean) and with its columns: the rank set, the mean, the Δs
    (* where resolved after Holm), the verdict against the best other method at ±margin,
    the probe and the seeds. `note` (the records' caveat) opens the caption, after the
    board's words in bold."""
    metric, probe = str(group["metric"].iloc[0]), str(group["probe_metric"].iloc[0])
    head = [
        "Rank set",
        "Method",
        f"{tex(metric)} (\\%)",
        f"$\\Delta$ vs {tex(BASELINE)}",
        "$\\Delta$ vs best other",
        f"vs best other, $\\pm${100 * margin:g} pts",
        f"{tex(probe)} (\\%)",
        "Seeds",
    ]
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        r"\footnotesize",
        r"\setlength{\tabcolsep}{3pt}",
        rf"\caption{{{_caption_note(note)}{tex(task)} ({tex(track)} track): {tex(metric)}, "
        r"mean $\pm$ half-width of the 95\% interval over seeds; $^{*}$ marks a difference "
        r"resolved after Holm's correction over the task's pairwise hypotheses; a rank set "
        r"holds every rank the resolved differences allow.}",
        rf"\label{{tab:xmd-{_label(track)}-{_label(task)}}}",
        r"\begin{tabular}{rlrrllrr}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
    ]
    for _, row in group.iterrows():  # summarize's order, the board's
        best = f" ({tex(row['best_other'])})" if row["best_other"] else ""
        cells = [
            tex(row["rank"]),
            tex(row["method"]),
            _pct(row["mean"], row["ci"]),
            _pct(row["gain"], row["gain_ci"], True, bool(row["gain_sig"])),
            _pct(row["vs_best"], row["vs_best_ci"], True, bool(row["vs_best_sig"])) + best,
            tex(VERDICT_TEXT.get(str(row["vs_best_verdict"]), "--")),
            _pct(row["probe_mean"], row["probe_ci"]),
            str(int(row["seeds"])),
        ]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def _caption_note(note: str | None) -> str:
    if note is None:
        return ""
    return rf"\textbf{{{NOT_RESULTS}.}} {tex(note)}. "


def _label(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in name)


def latex(records: list[Record], source: str, margin: float = MARGIN) -> str:
    """Every (task, track)'s table, supervised track first; `\\usepackage{booktabs}` is
    the one package they need. `margin` is the board's equivalence margin (`--margin`)."""
    table = summarize(records, margin=margin)
    commits = ", ".join(sorted({short_commit(r.git) for r in records})) or "-"
    note = caveat(records)
    lines = [
        f"% XMD-Bench leaderboard: {len(records)} records in {' '.join(source.splitlines())}",
        f"% commit {' '.join(commits.splitlines())}; written by bench leaderboard --format "
        "latex. Needs \\usepackage{booktabs}.",
        *([f"% {NOT_RESULTS}. {' '.join(note.splitlines())}."] if note else []),
        "",
    ]
    if not len(table):
        return "\n".join([*lines, "% no finished cells yet", ""])
    tracks = [t for t in TRACKS if t in set(table.track)]
    tracks += sorted(set(table.track) - set(tracks))
    for track in tracks:
        for task, group in table[table.track == track].groupby("task", sort=True):
            lines.append(latex_table(group, str(track), str(task), margin, note))
    return "\n".join(lines)


def records_table(records: list[Record]) -> pd.DataFrame:
    """One row per record (`records_frame`'s columns first), per-sample outcomes left out."""
    base = records_frame(records)
    if not len(base):
        return base
    by_key: dict[tuple[str, str, str, int], list[Record]] = {}
    for r in records:
        by_key.setdefault((r.task, r.track, r.method, r.seed), []).append(r)
    keys = zip(base.task, base.track, base.method, base.seed, strict=True)
    extra = [_extra_columns(by_key[key].pop(0)) for key in keys]
    extras = pd.DataFrame(extra, index=base.index)
    extras = extras[[c for c in extras.columns if c not in base.columns]]
    return pd.concat([base, extras], axis=1)


def _extra_columns(r: Record) -> dict[str, Any]:
    row: dict[str, Any] = {
        "reason": r.reason,
        "host": r.host,
        "device": r.device,
        "schema": r.schema,
    }
    row.update({f"loss.{k}": v for k, v in r.losses.items()})
    row.update({f"seconds.{k}": v for k, v in r.seconds.items()})
    for stage, series in r.curves.items():
        for name, values in series.items():
            row[f"curve.{stage}.{name}"] = [math.nan if v is None else float(v) for v in values]
    for name in ("config", "teacher", "data", "versions"):
        row[name] = json.dumps(getattr(r, name), sort_keys=True, default=str)
    return row


def check_parquet() -> None:
    """A UserError when pandas' pyarrow engine is missing (checked before writing)."""
    if importlib.util.find_spec("pyarrow") is None:
        raise UserError("--format parquet needs pyarrow: pip install 'xmd-bench[parquet]'")


def write_parquet(records: list[Record], path: Path) -> None:
    """`records_table` as one parquet file (pyarrow, pandas' own schema metadata kept),
    written atomically; the records' caveat, if any, under the metadata key `CAVEAT_KEY`."""
    check_parquet()
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(records_table(records), preserve_index=False)
    note = caveat(records)
    if note is not None:
        meta = dict(table.schema.metadata or {})
        meta[CAVEAT_KEY] = note.encode()
        table = table.replace_schema_metadata(meta)
    atomic_write(path, lambda f: pq.write_table(table, f))
