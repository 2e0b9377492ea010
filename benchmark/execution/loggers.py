"""Run loggers (`bench run --log tensorboard|wandb|mlflow`): each cell the run finishes,
written as one run of the experiment trackers researchers already use.

One small interface, `CellLogger.log(record, folder)`, fed from the record the cell just
wrote, so every logger shows exactly what the record holds: the per-epoch curves
(`benchmark.protocol.curves`: tag `<stage>/<series>`, step = epoch, 1-based), the final
metrics (`metrics/<name>`), and the cell's identity with its config hash as a tag. The
cell's folder is `OUT/logs/<task>/<method>/seed<k>` (`seed<k>.<track>` outside the
supervised track, like its record).

- `tensorboard`: event files written with `torch.utils.tensorboard` in the cell's folder;
  a re-run cell's old event files are removed first, so a cell stays one run.
- `wandb`: offline (`WANDB_MODE`, when set, decides), the run's files in the cell's folder;
  each stage's series are plotted against their own `<stage>/epoch` step metric.
- `mlflow`: a local SQLite store, `OUT/logs/mlflow.db` (`MLFLOW_TRACKING_URI`, when set,
  decides), experiment `xmd-bench`, one run per cell.

A logger's package is checked before the first cell (a clear error if it is missing). A
logger failing never fails a cell: its first failure is reported once, then it goes on
being tried on the next cells without another word. `Loggers.close` ends the run's logging
(W&B writes an offline run's files behind `finish`, and completes them only then).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from benchmark.errors import UserError, did_you_mean
from benchmark.results.records import Record
from benchmark.tracks import file_suffix

log = logging.getLogger(__name__)
NAMES = ("tensorboard", "wandb", "mlflow")
EXTRA = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # pip extras
PROJECT = "xmd-bench"  # the W&B project and the MLflow experiment


def cell_folder(out: Path, record: Record) -> Path:
    """Where a cell's logs go: `OUT/logs/<task>/<method>/seed<k>[.<track>]`."""
    return (
        out / "logs" / record.task / record.method / f"seed{record.seed}{file_suffix(record.track)}"
    )


def label(record: Record) -> str:
    return f"{record.task} · {record.track} · {record.method} · seed {record.seed}"


def points(record: Record) -> Iterator[tuple[str, int, float]]:
    """(tag, epoch from 1, value) for every finite curve value of the record."""
    for stage, series in record.curves.items():
        for name, values in series.items():
            for epoch, value in enumerate(values, start=1):
                if value is not None and math.isfinite(value):
                    yield f"{stage}/{name}", epoch, float(value)


def final_metrics(record: Record) -> dict[str, float]:
    """The record's finite metrics, as `metrics/<name>`."""
    return {
        f"metrics/{k}": float(v)
        for k, v in record.metrics.items()
        if v is not None and math.isfinite(v)
    }


def identity(record: Record) -> dict[str, str]:
    """The tags every logger gives a cell's run."""
    return {
        "config_hash": record.config_hash,
        "task": record.task,
        "track": record.track,
        "method": record.method,
        "seed": str(record.seed),
        "status": record.status,
        "profile": record.profile,
        "git": record.git,
    }


class CellLogger(Protocol):
    name: str

    def log(self, record: Record, folder: Path) -> None:
        """Write `record` as one run (its folder is the cell's, under OUT/logs)."""

    def close(self) -> None:
        """Flush whatever is still pending, once the run's last cell is logged."""


class TensorBoard:
    name = "tensorboard"

    def __init__(self, out: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        self._writer = SummaryWriter

    def log(self, record: Record, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("events.out.tfevents.*"):
            old.unlink()
        writer = self._writer(log_dir=str(folder))
        try:
            for tag, step, value in points(record):
                writer.add_scalar(tag, value, step)
            last = max((len(v) for s in record.curves.values() for v in s.values()), default=0)
            for tag, value in final_metrics(record).items():
                writer.add_scalar(tag, value, last)
            tags = identity(record)
            writer.add_text("config_hash", record.config_hash)
            writer.add_text("cell", "  \n".join(f"{k}: {v}" for k, v in tags.items()))
            if record.reason:
                writer.add_text("reason", record.reason)
        finally:
            writer.close()

    def close(self) -> None:
        pass


class WandB:
    name = "wandb"

    def __init__(self, out: Path) -> None:
        import wandb

        self._wandb = wandb

    def log(self, record: Record, folder: Path) -> None:
        wandb = self._wandb
        folder.mkdir(parents=True, exist_ok=True)
        run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", PROJECT),
            name=label(record),
            group=record.task,
            job_type=record.method,
            tags=[record.config_hash, record.track],
            config={**record.config, **{f"cell/{k}": v for k, v in identity(record).items()}},
            dir=str(folder),
            mode=os.environ.get("WANDB_MODE", "offline"),
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )
        try:
            for stage, series in record.curves.items():
                run.define_metric(f"{stage}/epoch", hidden=True)
                run.define_metric(f"{stage}/*", step_metric=f"{stage}/epoch")
                epochs = max((len(v) for v in series.values()), default=0)
                for epoch in range(epochs):
                    row = {
                        f"{stage}/{name}": values[epoch]
                        for name, values in series.items()
                        if epoch < len(values) and values[epoch] is not None
                    }
                    run.log({**row, f"{stage}/epoch": epoch + 1})
            run.summary.update(final_metrics(record))
        finally:
            run.finish(exit_code=0 if record.done else 1)

    def close(self) -> None:
        """Stop W&B's service process, which writes the offline run files behind `finish`."""
        self._wandb.teardown()


class MLflow:
    name = "mlflow"

    def __init__(self, out: Path) -> None:
        from mlflow.tracking import MlflowClient

        logs = (out / "logs").resolve()
        logs.mkdir(parents=True, exist_ok=True)
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{logs / 'mlflow.db'}"
        self._client = MlflowClient(tracking_uri=uri)
        found = self._client.get_experiment_by_name(PROJECT)
        self._experiment = (
            found.experiment_id
            if found is not None
            else self._client.create_experiment(PROJECT, (logs / "mlartifacts").as_uri())
        )

    def log(self, record: Record, folder: Path) -> None:
        from mlflow.entities import Metric, Param

        client = self._client
        run = client.create_run(self._experiment, run_name=label(record), tags=identity(record))
        now = int(time.time() * 1000)
        metrics = [Metric(tag, value, now, step) for tag, step, value in points(record)]
        last = max((m.step for m in metrics), default=0)
        metrics += [Metric(k, v, now, last) for k, v in final_metrics(record).items()]
        params = [Param(k, str(v)[:500]) for k, v in _flat(record.config).items()][:100]
        try:
            for start in range(0, max(1, len(metrics)), 1000):  # MLflow's batch limit
                chunk = metrics[start : start + 1000]
                client.log_batch(run.info.run_id, metrics=chunk, params=params if not start else [])
        finally:
            client.set_terminated(run.info.run_id, "FINISHED" if record.done else "FAILED")

    def close(self) -> None:
        pass


def _flat(payload: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"distill": {"lr": 0.05}}` → `{"distill.lr": 0.05}`."""
    flat: dict[str, Any] = {}
    for key, value in payload.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


BUILDERS: dict[str, Callable[[Path], CellLogger]] = {
    "tensorboard": TensorBoard,
    "wandb": WandB,
    "mlflow": MLflow,
}


def parse_names(values: list[str] | None) -> list[str]:
    """`--log` values (repeatable, or comma-separated) → logger names, checked."""
    names: list[str] = []
    for value in values or []:
        for name in (v.strip().lower() for v in value.split(",")):
            if name not in NAMES:
                raise UserError(f"--log {name!r} is not a logger: {did_you_mean(name, NAMES)}")
            if name not in names:
                names.append(name)
    return names


def check_installed(names: list[str]) -> None:
    """A UserError naming the extra to install for the first logger whose package is
    missing; checked without importing it (cheap, before anything is written)."""
    for name in names:
        if importlib.util.find_spec(name) is None:
            raise UserError(
                f"--log {name} needs the {name} package: pip install 'xmd-bench[{EXTRA[name]}]'"
            )


class Loggers:
    """The run's loggers; `log(record)` gives each finished cell to every one of them."""

    def __init__(self, names: list[str], out: Path, say: Callable[[str], None] | None = None):
        """Builds each logger now, so a missing package is a UserError before any cell."""
        self.out = out
        self.say = say or log.warning
        self.failed: dict[str, int] = {}
        self.loggers: list[CellLogger] = []
        for name in names:
            try:
                self.loggers.append(BUILDERS[name](out))
            except ImportError as err:
                raise UserError(
                    f"--log {name} needs the {err.name or name} package: "
                    f"pip install 'xmd-bench[{EXTRA[name]}]'"
                ) from None

    def log(self, record: Record) -> None:
        """Log one cell with every logger; a failure is reported the first time only."""
        folder = cell_folder(self.out, record)
        for logger in self.loggers:
            try:
                logger.log(record, folder)
            except Exception as err:  # a logger never fails a cell, nor the run
                self._failure(logger.name, f"on {label(record)}", err)

    def close(self) -> None:
        """After the run's last cell: every logger flushes (W&B writes its files)."""
        for logger in self.loggers:
            try:
                logger.close()
            except Exception as err:
                self._failure(logger.name, "while closing", err)

    def _failure(self, name: str, where: str, err: Exception) -> None:
        self.failed[name] = self.failed.get(name, 0) + 1
        if self.failed[name] == 1:
            self.say(
                f"--log {name} failed {where} ({type(err).__name__}: {err}); the cells' "
                "records are unaffected, and later failures of this logger are not reported"
            )
