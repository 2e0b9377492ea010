"""`bench perf --quick` runs every measurement on the smoke profile and prints every row.

No timing is asserted (speed targets are read off `bench perf`, not enforced in tests);
what is checked is that every row is measured, printed, and sane."""

from __future__ import annotations

import pytest

import benchmark.execution.perf
from benchmark.cli.main import main
from benchmark.execution.perf_row import Row

ROWS = (
    "bare loop · l2",
    "harness · l2",
    "bare loop · crd",
    "harness · crd",
    "RepDistiller-style · teacher test_resnet",
    "RepDistiller-style · teacher resnet18",
    "harness (cached teacher) · teacher resnet18",
    "all · single-object scenes",
    "sketch-cls data (rgb + sketch)",
    "depth-seg data (depth + rgb + seg)",
    "audio-cls data (audio + rgb)",
    "distill (summed over 2 cells)",
    "wall · bench run --methods l2 --tasks sketch-cls",
    "peak memory of the bench process",
    "bench list methods -v · first call, empty cache",
    "bench list methods -v",
    "bench validate (a smoke config)",
    "cell-seconds (records' stages) · 6 cells on 2 workers",
    "(busy worker-seconds + shared import) ÷ cell-seconds",
    "workers × wall ÷ cell-seconds",
)


def test_bench_perf_quick_prints_every_row(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Row] = []
    render = benchmark.execution.perf.render

    def keep(rows: list[Row], *args: object) -> None:
        seen.extend(rows)
        render(rows, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(benchmark.execution.perf, "render", keep)
    assert main(["perf", "--quick", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for row in ROWS:
        assert row in out, f"missing row: {row}"
    assert "FAILED" not in out
    for row in seen:
        assert row.low <= row.median <= row.high and row.median > 0, row
    ratios = [r for r in seen if r.ratio]
    assert len(ratios) == 4  # l2 and crd steps, CRD with two teachers
    assert all("×" in r.ratio and r.ratio.endswith("]") for r in ratios)


def test_bench_perf_bad_repeats_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perf", "--quick", "--repeats", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--repeats 0" in err[0]
