"""`bench sweep`: knob parsing, the grid on real (smoke) cells, resume, the tidy table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli.main import main
from benchmark.cli.sweep import canonical_knob, parse_knob
from benchmark.errors import UserError
from benchmark.results.records import read_records
from benchmark.results.sweeps import sweep_dir, value_dir


def test_knob_names_and_the_friendly_alias() -> None:
    assert canonical_knob("world.sketch_abstraction") == "world.sketch_abstraction"
    assert canonical_knob("sketch.abstraction") == "world.sketch_abstraction"
    assert canonical_knob("depth.noise") == "world.depth_noise"
    assert canonical_knob("l2.weight") == "l2.weight"
    assert parse_knob("sketch.abstraction=0, 0.5,1") == (
        "world.sketch_abstraction",
        ["0", "0.5", "1"],
    )
    with pytest.raises(UserError, match=r"did you mean 'world\.sketch_abstraction'"):
        canonical_knob("sketch.abstractoin")
    for bad in ("world.depth_noise", "world.depth_noise=", "world.depth_noise=0,0", "x=1"):
        with pytest.raises(UserError):
            parse_knob(bad)


@pytest.mark.parametrize(
    ("knob", "message"),
    [
        ("world.sketch_abstracton=0,1", "did you mean 'sketch_abstraction'"),
        ("sketch.abstraction=0,2", "sketch_abstraction=2"),
        ("teacher.epoch=1,2", "did you mean 'epochs'"),
    ],
)
def test_bad_knobs_are_one_line_errors_before_anything_runs(
    knob: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sweep", "--tasks", "sketch-cls", "--methods", "scratch", "--knob", knob]
    assert main([*argv, "--profile", "smoke", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "sweeps").exists()


def test_sweep_runs_the_grid_resumes_and_writes_the_table(
    tmp_path: Path, one_thread: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "sweep",
        "--tasks",
        "sketch-cls",
        "--methods",
        "scratch,kd",
        "--seeds",
        "1",
        "--knob",
        "sketch.abstraction=0,1",
        "--profile",
        "smoke",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    knob = "world.sketch_abstraction"
    for value, number in (("0", 0.0), ("1", 1.0)):
        records = read_records(value_dir(tmp_path, knob, value))
        assert sorted(r.method for r in records) == ["_reference", "kd", "scratch"]
        assert all(r.ok and r.config["world"] == {"sketch_abstraction": number} for r in records)
    table = pd.read_csv(sweep_dir(tmp_path, knob) / "sweep.csv")
    assert len(table) == 6 and set(table.knob) == {knob} and set(table.value) == {0.0, 1.0}
    methods = table[table.method != "_reference"]
    assert methods[["finetune_acc", "gap_tv", "gap_cka", "gap_pair"]].notna().all().all()
    assert table["input_gap_tv"].notna().all()
    # Same data, different sketches: the knob reached the cells.
    scratch = methods[methods.method == "scratch"].set_index("value")
    assert scratch.loc[0.0, "config_hash"] != scratch.loc[1.0, "config_hash"]

    created = {
        (v, r.method): r.created
        for v in ("0", "1")
        for r in read_records(value_dir(tmp_path, knob, v))
    }
    capsys.readouterr()
    assert main(argv) == 0  # the same command again: everything is done
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert out.count("3 cells, 3 already done") == 2
    again = {
        (v, r.method): r.created
        for v in ("0", "1")
        for r in read_records(value_dir(tmp_path, knob, v))
    }
    assert again == created
    assert len(pd.read_csv(sweep_dir(tmp_path, knob) / "sweep.csv")) == 6
