"""The interactive figures of `bench report` (Plotly), one HTML fragment each.

The numbers come from `benchmark.results.leaderboard.summarize` (means and intervals), the
records themselves (per-seed points) and `benchmark.results.plots.sweep_points` (what `bench
plot` draws for a sweep); intervals over seeds use `benchmark.results.stats.mean_ci`. Every text
from a record is HTML-escaped before Plotly sees it (Plotly renders a few tags in labels),
and Plotly's JSON escapes `<`, `>` and `/`, so nothing from a record can end a script.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from benchmark.errors import UserError
from benchmark.results.stats import mean_ci, spearman

PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise UserError("bench report needs plotly: pip install plotly") from None
    return go


class Figures:
    """Renders figures to HTML; the first one carries plotly.js inline, so the page is
    self-contained and loads the library once."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: Any, kind: str) -> str:
        import plotly.io as pio

        self.count += 1
        fragment = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=self.count == 1,
            div_id=f"fig{self.count}",
            config=PLOT_CONFIG,
        )
        return f'<div class="figure {kind}">{fragment}</div>'


def seeds_figure(
    task: str,
    metric: str,
    points: list[tuple[str, float, int]],
    board: pd.DataFrame,
    hover: list[str],
) -> Any:
    """Per method: every seed's score (`points`: method, value, record index) as a point
    (hover: the record's provenance, `hover[index]`; click: the provenance panel) and the
    leaderboard's mean ± 95% t interval."""
    go = _plotly()
    fig = go.Figure()
    order = list(board.sort_values("mean", ascending=False).method) if len(board) else []
    order += sorted({who for who, _, _ in points} - set(order))
    labels = {m: html.escape(m) for m in order}
    fig.add_trace(
        go.Scatter(
            x=[labels[who] for who, _, _ in points],
            y=[100 * v for _, v, _ in points],
            mode="markers",
            name="one seed",
            marker={"size": 8, "opacity": 0.6, "color": "#4c72b0"},
            text=[hover[i] for _, _, i in points],
            customdata=[i for _, _, i in points],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    if len(board):
        rows = board.set_index("method").reindex([m for m in order if m in set(board.method)])
        fig.add_trace(
            go.Scatter(
                x=[labels[m] for m in rows.index],
                y=100 * rows["mean"],
                error_y={"type": "data", "array": list(100 * rows["ci"].fillna(0.0))},
                mode="markers",
                name="mean ± 95% t interval",
                marker={"symbol": "line-ew-open", "size": 22, "color": "black"},
                hovertemplate="%{x}: %{y:.1f}<extra>mean</extra>",
            )
        )
    fig.update_layout(
        title=html.escape(f"{task}: {metric} per seed (%)"),
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 80},
        xaxis={"categoryorder": "array", "categoryarray": [labels[m] for m in order]},
        yaxis={"title": html.escape(f"{metric} (%)")},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def sweep_figure(knob: str, task: str, points: pd.DataFrame) -> Any:
    """Target error against the knob (mean over seeds ± 95% t interval) and against the
    common-space gap `gap_tv` (every cell; legend: Spearman's ρ), one colour per method."""
    go = _plotly()
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=(html.escape(knob), "gap_tv (common space)"),
    )
    for i, (method, group) in enumerate(points.groupby("method", sort=True)):
        name = html.escape(str(method))
        by_value = group.groupby("value", sort=True)["error"]
        stats = [(value, *mean_ci(errors)) for value, errors in by_value]
        colour = COLOURS[i % len(COLOURS)]
        fig.add_trace(
            go.Scatter(
                x=[v for v, _, _ in stats],
                y=[100 * m for _, m, _ in stats],
                error_y={
                    "type": "data",
                    "array": [100 * (h if h == h else 0.0) for *_, h in stats],
                },
                mode="lines+markers",
                name=name,
                legendgroup=name,
                line={"color": colour},
            ),
            row=1,
            col=1,
        )
        rho = spearman(group["gap_tv"], group["error"])
        fig.add_trace(
            go.Scatter(
                x=list(group["gap_tv"]),
                y=list(100 * group["error"]),
                mode="markers",
                name=f"{name} (ρ = {rho:+.2f})" if rho == rho else f"{name} (ρ n/a)",
                legendgroup=name,
                marker={"color": colour, "size": 6, "opacity": 0.5},
                text=[
                    f"seed {s} · {html.escape(str(v))}"
                    for s, v in zip(group.seed, group.value, strict=True)
                ],
                hovertemplate="%{text}<br>gap_tv %{x:.3f}, error %{y:.1f}%<extra></extra>",
            ),
            row=1,
            col=2,
        )
    fig.update_layout(
        title=html.escape(f"{task}: target error vs {knob} and the measured gap"),
        height=420,
        margin={"l": 60, "r": 20, "t": 70, "b": 40},
        yaxis={"title": "target error (%)"},
    )
    return fig


COLOURS = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
)
