"""How each method trained, for `bench report`: per (task, track), every method's
distillation loss terms per epoch (`Record.curves`, `benchmark.protocol.curves`), the mean
over the seeds with a band of the 95% t interval (`benchmark.results.stats.mean_ci`, as
everywhere on the board), one small panel per method with its own scale, so a method
whose loss never moved, diverged or fought its weighting shows it at a glance.

Records of every status count, a failed cell's curve up to its last finished epoch
included (a method that diverged fails its cell, and its curve is the reason to look);
records without curves (scratch, which does not distil, and records of schema < 3) add
nothing. A task without curves gets no figure.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from benchmark.protocol.curves import LR
from benchmark.results.records import REFERENCE, Record
from benchmark.results.report_figures import COLOURS, _plotly
from benchmark.results.stats import mean_ci

STAGE = "distill"
COLUMNS = 4  # panels per row


@dataclass(frozen=True)
class Band:
    """One loss term of one method over its seeds: per epoch (from 1) the mean, the 95%
    t interval's half-width (NaN with one seed) and how many seeds reached the epoch."""

    epochs: list[int]
    mean: list[float]
    half: list[float]
    seeds: list[int]


def band(curves: list[list[float | None]]) -> Band:
    """Mean and 95% t half-width per epoch over the seeds' curves (of any lengths)."""
    length = max((len(c) for c in curves), default=0)
    epochs, means, halves, counts = [], [], [], []
    for epoch in range(length):
        values = [c[epoch] for c in curves if epoch < len(c) and c[epoch] is not None]
        if not values:
            continue
        mean, half = mean_ci(pd.Series(values, dtype=float))
        epochs.append(epoch + 1)
        means.append(float(mean))
        halves.append(float(half))
        counts.append(len(values))
    return Band(epochs, means, halves, counts)


def distill_bands(records: list[Record], task: str, track: str) -> dict[str, dict[str, Band]]:
    """Method → loss term → its band, for the (task, track)'s records with curves (any
    track's, for track '')."""
    by_method: dict[str, dict[str, list[list[float | None]]]] = {}
    for r in records:
        if r.task != task or (track and r.track != track) or r.method == REFERENCE:
            continue
        for term, values in r.curves.get(STAGE, {}).items():
            if term != LR:
                by_method.setdefault(r.method, {}).setdefault(term, []).append(values)
    return {
        method: {term: band(curves) for term, curves in terms.items()}
        for method, terms in sorted(by_method.items())
    }


def curves_figure(task: str, track: str, bands: dict[str, dict[str, Band]]) -> Any | None:
    """One panel per method (each with its own y scale), one line per loss term with its
    band; None when no method has curves."""
    if not bands:
        return None
    go = _plotly()
    from plotly.subplots import make_subplots

    methods = list(bands)
    cols = min(COLUMNS, len(methods))
    rows = math.ceil(len(methods) / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[_title(m, list(bands[m])) for m in methods],
        horizontal_spacing=0.06,
        vertical_spacing=min(0.12, 0.5 / rows),
    )
    for i, method in enumerate(methods):
        row, col = i // cols + 1, i % cols + 1
        for j, (term, b) in enumerate(bands[method].items()):
            colour = COLOURS[j % len(COLOURS)]
            name = html.escape(f"{method} · {term}")
            halves = [0.0 if math.isnan(h) else h for h in b.half]
            upper = [m + h for m, h in zip(b.mean, halves, strict=True)]
            lower = [m - h for m, h in zip(b.mean, halves, strict=True)]
            fig.add_trace(  # the band: the upper edge, then the lower one filled up to it
                go.Scatter(x=b.epochs, y=upper, mode="lines", line={"width": 0}, hoverinfo="skip"),
                row=row,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=b.epochs,
                    y=lower,
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor=_faint(colour),
                    hoverinfo="skip",
                ),
                row=row,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=b.epochs,
                    y=b.mean,
                    mode="lines+markers",
                    name=name,
                    line={"color": colour},
                    marker={"size": 4},
                    customdata=[[h, n] for h, n in zip(halves, b.seeds, strict=True)],
                    hovertemplate=f"{name}<br>epoch %{{x}}: %{{y:.4g}} ± %{{customdata[0]:.2g}}"
                    " (%{customdata[1]} seeds)<extra></extra>",
                ),
                row=row,
                col=col,
            )
    where = f"{task} · {track}" if track else task
    fig.update_layout(
        title=html.escape(
            f"{where}: distillation loss per epoch (mean over seeds, band: 95% t interval; "
            "each panel its own scale)"
        ),
        height=80 + 200 * rows,
        margin={"l": 50, "r": 20, "t": 80, "b": 30},
        showlegend=False,
    )
    fig.update_xaxes(title_text="epoch", row=rows)
    return fig


def _title(method: str, terms: list[str]) -> str:
    """`method: term term`, each term in its line's colour (Plotly renders the spans)."""
    named = " ".join(
        f'<span style="color:{COLOURS[j % len(COLOURS)]}">{html.escape(t)}</span>'
        for j, t in enumerate(terms)
    )
    return f"{html.escape(method)}: {named}"


def _faint(colour: str) -> str:
    """`#4c72b0` → the same colour at 20% opacity."""
    r, g, b = (int(colour[k : k + 2], 16) for k in (1, 3, 5))
    return f"rgba({r},{g},{b},0.2)"
