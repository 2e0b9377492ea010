"""The paired test against hand computations, the leaderboard's marks, and `bench plot`:
files written, non-empty, and their data equal to the records'."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli.main import main
from benchmark.results.leaderboard import render, summarize
from benchmark.results.records import REFERENCE, Record, write_record
from benchmark.results.stats import paired_test, spearman
from benchmark.results.sweeps import value_dir


def test_paired_t_test_matches_a_hand_computation() -> None:
    # Differences 0.10 and 0.12: mean 0.11, sd 0.01·√2, se 0.01, t = 11 on 1 df; the t(1)
    # (Cauchy) tail gives p = 1 − 2·atan(11)/π; half-width t_{0.975,1}·se = 12.706·0.01.
    a = pd.Series([0.50, 0.72], index=[0, 1])
    b = pd.Series([0.40, 0.60], index=[0, 1])
    test = paired_test(a, b)
    assert test.mean == pytest.approx(0.11) and test.n == 2
    assert test.half == pytest.approx(0.12706)
    assert test.p == pytest.approx(1 - 2 * math.atan(11) / math.pi)
    assert not test.excludes_zero
    # Differences 2, 3, 4: mean 3, sd 1, t = 3√3 on 2 df; t(2) has the closed-form CDF
    # ½ + t / (2√(2 + t²)), so p = 1 − t/√(2 + t²); half-width 4.303/√3.
    test = paired_test(pd.Series([12.0, 13.0, 14.0]), pd.Series([10.0, 10.0, 10.0]))
    t = 3 * math.sqrt(3)
    assert test.p == pytest.approx(1 - t / math.sqrt(2 + t * t))
    assert test.half == pytest.approx(4.303 / math.sqrt(3))
    assert test.excludes_zero and test.p < 0.05


def test_paired_test_pairs_by_seed_and_drops_unpaired_seeds() -> None:
    a = pd.Series([0.5, 0.6, 0.9], index=[0, 1, 2])
    b = pd.Series([0.4, 0.5], index=[1, 0])  # seed 2 failed on b's side
    test = paired_test(a, b)
    assert test.n == 2 and test.mean == pytest.approx(0.1)
    one = paired_test(a.loc[[0]], b.loc[[0]])
    assert one.n == 1 and math.isnan(one.p) and not one.excludes_zero
    assert paired_test(a.loc[[0]], b.loc[[1]]).n == 0  # different seeds never pair


def test_spearman() -> None:
    x = pd.Series([0.0, 0.25, 0.5, 0.75, 1.0])
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert math.isnan(spearman(x, pd.Series([1.0] * 5)))


def _rec(task: str, method: str, seed: int, **metrics: float) -> Record:
    return Record(
        task=task,
        method=method,
        seed=seed,
        status="ok",
        config_hash=f"{method}{seed}",
        profile="quick",
        metrics=metrics,
        git="abc",
    )


BOARD = [
    _rec(
        "t",
        REFERENCE,
        s,
        teacher_acc=0.9,
        all_labels_acc=0.8,
        input_gap_tv=0.7,
        input_gap_tv_lo=0.6,
        input_gap_tv_hi=0.8,
        input_gap_cka=0.3,
        input_gap_pair=0.4,
    )
    for s in range(3)
] + [
    _rec("t", m, s, finetune_acc=acc + 0.01 * s, probe_acc=0.3, gap_tv=0.5, gap_cka=0.4)
    for m, acc in (("scratch", 0.30), ("a", 0.50), ("b", 0.49))
    for s in range(3)
]


def test_leaderboard_compares_with_scratch_and_the_best_other_method() -> None:
    table = summarize(BOARD).set_index("method")
    assert table.loc["a", "best_other"] == "b" and table.loc["b", "best_other"] == "a"
    assert table.loc["a", "gain"] == pytest.approx(0.20) and table.loc["a", "gain_sig"]
    assert table.loc["a", "vs_best"] == pytest.approx(0.01) and table.loc["a", "vs_best_sig"]
    text = render(BOARD, "x")
    # Every seed agrees exactly: each difference is resolved, so three single ranks.
    assert (
        "| 1 | a | 51.0 ± 2.5 | +20.0 ± 0.0\\* | +1.0 ± 0.0\\* (b) | resolved (above) | "
        "30.0 ± 0.0 | 0.50 | 0.40 | 3 |" in text
    )
    assert "TV ≥ 0.70 [0.60, 0.80]" in text and "paired t interval" in text


def _sweep_records(out: Path) -> list[tuple[str, Record]]:
    """A fake 3-value sweep whose error grows with the knob for `a`, not for `b`."""
    made = []
    for value, shift in (("0", 0.0), ("0.5", 0.1), ("1", 0.2)):
        for seed in range(2):
            recs = [
                _rec("t", REFERENCE, seed, teacher_acc=0.9, all_labels_acc=0.8, input_gap_tv=shift),
                _rec(
                    "t",
                    "a",
                    seed,
                    finetune_acc=0.6 - shift - 0.01 * seed,
                    gap_tv=0.5 + shift,
                    gap_cka=0.4 + shift,
                    input_gap_tv=shift,
                ),
                _rec(
                    "t",
                    "b",
                    seed,
                    finetune_acc=0.5 + 0.01 * seed,
                    gap_tv=0.9,
                    gap_cka=0.8,
                    input_gap_tv=shift,
                ),
            ]
            for rec in recs:
                write_record(value_dir(out, "world.sketch_abstraction", value), rec)
                made.append((value, rec))
    return made


def test_plots_are_written_and_their_data_match_the_records(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    made = _sweep_records(tmp_path)
    for value, rec in made:  # the same records also as a plain run under OUT/runs
        if value == "0":
            write_record(tmp_path, rec)
    assert main(["plot", "--out", str(tmp_path)]) == 0
    figures = tmp_path / "figures"
    for stem in ("task-t", "sweep-sketch_abstraction-t"):
        png, svg = figures / f"{stem}.png", figures / f"{stem}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert svg.read_text().lstrip().startswith("<?xml") and svg.stat().st_size > 5000

    task = pd.read_csv(figures / "task-t.csv").set_index("method")
    assert task.loc["a", "mean"] == pytest.approx(100 * (0.6 + 0.59) / 2)
    assert task.loc["teacher", "mean"] == pytest.approx(90.0)

    points = pd.read_csv(figures / "sweep-sketch_abstraction-t.csv")
    expected = {
        (float(v), r.method, r.seed): (1 - r.metrics["finetune_acc"], r.metrics["gap_tv"])
        for v, r in made
        if r.method != REFERENCE
    }
    got = {
        (row.value, row.method, row.seed): (row.error, row.gap_tv) for row in points.itertuples()
    }
    assert got.keys() == expected.keys()
    for key, (error, gap) in expected.items():
        assert got[key] == (pytest.approx(error), pytest.approx(gap))
    a = points[points.method == "a"]
    assert spearman(a["gap_tv"], a["error"]) > 0.9  # what the legend prints for `a`


def test_plot_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    assert main(["plot", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "xmd-bench[plot]" in err and err.count("\n") == 1


def test_plot_with_nothing_to_plot_is_a_user_error(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    assert main(["plot", "--out", str(tmp_path)]) == 2
