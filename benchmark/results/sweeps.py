"""A sweep's folders and its table: where `bench sweep` puts each knob value's run, and
the tidy table of every record of every value (read by `bench plot` and `bench report`).

    OUT/sweeps/<knob>/<value>/            a complete `bench run` output folder
    OUT/sweeps/<knob>/<value>/runs/...    its records
    OUT/sweeps/<knob>/sweep.csv           one row per record of every value

`<knob>` is the full setting name (`world.sketch_abstraction`); `<value>` is the value
as typed (`value_of` reads it back as a number where it is one).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from benchmark.results.records import read_records, records_frame
from benchmark.storage import check_target, write_text

SWEEPS = "sweeps"
TABLE = "sweep.csv"


def value_dir(out: Path, knob: str, value: str) -> Path:
    return sweep_dir(out, knob) / value


def sweep_dir(out: Path, knob: str) -> Path:
    return out / SWEEPS / knob


def value_of(text: str) -> float | str:
    """A point's folder name as the knob's value (numbers as numbers, for plotting)."""
    loaded = yaml.safe_load(text)
    if isinstance(loaded, bool) or not isinstance(loaded, int | float):
        return text
    return float(loaded)


def sweep_frame(folder: Path) -> pd.DataFrame:
    """Every record of a sweep folder, one row each, with `knob` and `value` first."""
    knob = folder.name
    frames = []
    points = sorted(p for p in folder.iterdir() if (p / "runs").is_dir()) if folder.is_dir() else []
    for point in points:
        frame = records_frame(read_records(point))
        if len(frame):
            frame.insert(0, "value", value_of(point.name))
            frame.insert(0, "knob", knob)
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["knob", "value", "task", "method", "seed", "status"])
    table = pd.concat(frames, ignore_index=True)
    order = table["value"].map(lambda v: (0, v, "") if isinstance(v, float) else (1, 0.0, v))
    table = table.assign(_order=order).sort_values(["_order", "task", "method", "seed"])
    table = table.drop(columns="_order").reset_index(drop=True)
    # Identity first, then scores, then the gap estimates, each group alphabetical.
    ident = ["knob", "value", *records_frame([]).columns]
    rest = sorted(c for c in table.columns if c not in ident)
    scores = [c for c in rest if "gap" not in c]
    return table[
        [c for c in ident if c in table.columns] + scores + [c for c in rest if "gap" in c]
    ]


def write_table(folder: Path) -> Path:
    """`sweep.csv` in the sweep folder, regenerated from the records every time."""
    path = folder / TABLE
    check_target(path, "the sweep table")
    write_text(path, sweep_frame(folder).to_csv(index=False))
    return path


def find_sweeps(out: Path) -> list[Path]:
    """The sweep folders under an output folder (`OUT/sweeps/<knob>`)."""
    root = out / SWEEPS
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
