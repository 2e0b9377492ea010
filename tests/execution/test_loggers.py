"""`bench run --log` (`benchmark.execution.loggers`): a cell's record written as one run of
TensorBoard, W&B (offline) and MLflow (local store), each read back with the tool's own
reader and holding the record's curves and metrics; a failing logger says so once and
fails nothing; bad names and missing packages are one-line errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from benchmark.errors import UserError
from benchmark.execution import loggers
from benchmark.execution.loggers import Loggers, cell_folder, parse_names
from benchmark.results.records import Record

CURVES = {
    "distill": {"kd": [2.5, 1.25, 0.75], "lr": [0.05, 0.025, 0.005]},
    "finetune": {"ce": [1.5, 0.5], "lr": [0.01, 0.002]},
    "finetune1": {"ce": [1.75, None], "lr": [0.01, 0.002]},  # a non-finite epoch: skipped
}


def _record(seed: int = 0, track: str = "supervised") -> Record:
    return Record(
        task="sketch-cls",
        method="kd",
        seed=seed,
        status="ok",
        config_hash=f"cafe{seed}",
        profile="smoke",
        track=track,
        metrics={"finetune_acc": 0.625, "probe_acc": 0.5},
        losses={"kd": 0.75},
        curves=CURVES,
        config={"distill": {"epochs": 3}},
    )


def _expected() -> dict[str, list[tuple[int, float]]]:
    return {
        f"{stage}/{name}": [(i + 1, v) for i, v in enumerate(values) if v is not None]
        for stage, series in CURVES.items()
        for name, values in series.items()
    }


def _float32(value: float) -> float:
    """TensorBoard stores scalars as float32."""
    return struct.unpack("f", struct.pack("f", value))[0]


def test_tensorboard_event_files_hold_the_curves_metrics_and_hash(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is the extra xmd-bench[tensorboard]")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    record = _record(track="label-free")
    run = Loggers(["tensorboard"], tmp_path)
    run.log(record)
    run.log(record)  # a re-run cell replaces its run
    folder = tmp_path / "logs/sketch-cls/kd/seed0.label-free"
    assert cell_folder(tmp_path, record) == folder
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    events = EventAccumulator(str(folder))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert scalars == {*_expected(), "metrics/finetune_acc", "metrics/probe_acc"}
    for tag, want in _expected().items():
        got = [(e.step, e.value) for e in events.Scalars(tag)]
        assert got == [(step, _float32(value)) for step, value in want], tag
    assert events.Scalars("metrics/finetune_acc")[0].value == 0.625
    texts = events.Tags()["tensors"]
    assert "config_hash/text_summary" in texts
    hash_text = events.Tensors("config_hash/text_summary")[0].tensor_proto.string_val[0].decode()
    assert hash_text == "cafe0"


def _wandb_records(path: Path) -> list[bytes]:
    """The records of an offline W&B run file (a LevelDB-style log: 7-byte file header,
    32 KiB blocks of chunks, each with a 7-byte header: CRC, length, FULL/FIRST/MIDDLE/LAST)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, out, pending = 7, [], b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            break
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            out.append(pending)
    return out


def _key(item: object) -> str:
    """A history or summary item's key (W&B stores it as `key` or as `nested_key`)."""
    return item.key or "/".join(item.nested_key)  # type: ignore[attr-defined]


def test_wandb_offline_run_holds_the_same_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb", reason="wandb is the optional extra xmd-bench[wandb]")
    from wandb.proto import wandb_internal_pb2 as pb

    for var in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "home" / var))
    run = Loggers(["wandb"], tmp_path)
    run.log(_record())
    run.close()  # W&B's service writes the run file behind `finish`; closing completes it
    (run_file,) = (tmp_path / "logs/sketch-cls/kd/seed0/wandb").glob("offline-run-*/run-*.wandb")
    history: dict[str, list[tuple[int, float]]] = {}
    summary: dict[str, float] = {}
    tags: list[str] = []
    for raw in _wandb_records(run_file):
        rec = pb.Record()
        rec.ParseFromString(raw)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            tags = list(rec.run.tags)
            assert rec.run.display_name == "sketch-cls · supervised · kd · seed 0"
        elif kind == "history":
            row = {_key(i): json.loads(i.value_json) for i in rec.history.item}
            stage = next(k.split("/")[0] for k in row if k.endswith("/epoch"))
            for key, value in row.items():
                if key.startswith(f"{stage}/") and not key.endswith("/epoch"):
                    history.setdefault(key, []).append((row[f"{stage}/epoch"], value))
        elif kind == "summary":
            summary.update({_key(i): json.loads(i.value_json) for i in rec.summary.update})
    assert history == _expected()  # exact: W&B keeps the JSON doubles
    assert summary["metrics/finetune_acc"] == 0.625 and "cafe0" in tags


def test_mlflow_local_run_holds_the_same_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow", reason="mlflow-skinny is the optional extra xmd-bench[mlflow]")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    Loggers(["mlflow"], tmp_path).log(_record())
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path.resolve() / 'logs/mlflow.db'}")
    experiment = client.get_experiment_by_name("xmd-bench")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["config_hash"] == "cafe0" and run.info.status == "FINISHED"
    assert run.data.params["distill.epochs"] == "3"
    for tag, want in _expected().items():
        got = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, tag))
        assert got == want, tag
    assert run.data.metrics["metrics/finetune_acc"] == 0.625


def test_a_failing_logger_says_so_once_and_fails_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        name = "tensorboard"

        def __init__(self, out: Path) -> None:
            pass

        def log(self, record: Record, folder: Path) -> None:
            raise OSError("disk says no")

        def close(self) -> None:
            raise OSError("still no")

    monkeypatch.setitem(loggers.BUILDERS, "tensorboard", Broken)
    said: list[str] = []
    run = Loggers(["tensorboard"], tmp_path, said.append)
    for seed in range(3):
        run.log(_record(seed))
    run.close()
    assert len(said) == 1 and "disk says no" in said[0] and "seed 0" in said[0]
    assert run.failed == {"tensorboard": 4}


def test_bad_names_and_missing_packages_are_user_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parse_names(["tensorboard", "mlflow,wandb", "tensorboard"]) == [
        "tensorboard",
        "mlflow",
        "wandb",
    ]
    assert parse_names(None) == []
    with pytest.raises(
        UserError, match="--log 'tensorbord' is not a logger: did you mean 'tensorboard'"
    ):
        parse_names(["tensorbord"])

    def missing(out: Path) -> None:
        raise ImportError("No module named 'wandb'", name="wandb")

    monkeypatch.setitem(loggers.BUILDERS, "wandb", missing)
    with pytest.raises(UserError, match=r"pip install 'xmd-bench\[wandb\]'"):
        Loggers(["wandb"], tmp_path)


def test_bench_run_log_tensorboard_writes_each_cell_as_a_run(tmp_path: Path) -> None:
    """The issue's check: a smoke run with --log tensorboard, opened in TensorBoard's reader."""
    pytest.importorskip("tensorboard", reason="tensorboard is the extra xmd-bench[tensorboard]")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from benchmark.cli.main import main
    from benchmark.results.records import read_records

    out = tmp_path / "out"
    args = ["run", "--profile", "smoke", "--out", str(out), "--seeds", "1"]
    args += ["--methods", "l2", "--tasks", "sketch-cls", "--log", "tensorboard"]
    assert main(args) == 0
    (record,) = [r for r in read_records(out) if r.method == "l2"]
    events = EventAccumulator(str(cell_folder(out, record)))
    events.Reload()
    want = {f"{stage}/{name}" for stage, series in record.curves.items() for name in series}
    assert want >= {"distill/l2", "distill/lr", "finetune/ce", "finetune/lr"}
    assert set(events.Tags()["scalars"]) == want | {f"metrics/{m}" for m in record.metrics}
    last = events.Scalars("distill/l2")[-1]
    assert (last.step, last.value) == (
        len(record.curves["distill"]["l2"]),
        _float32(record.losses["l2"]),
    )
    hash_text = events.Tensors("config_hash/text_summary")[0].tensor_proto.string_val[0]
    assert hash_text.decode() == record.config_hash


@pytest.mark.parametrize(
    ("log", "message"),
    [("tensorbord", "did you mean 'tensorboard'"), ("wandb", "pip install 'xmd-bench[wandb]'")],
)
def test_bench_run_bad_log_is_one_line_and_writes_nothing(
    log: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmark.cli.main import main

    real = loggers.importlib.util.find_spec
    monkeypatch.setattr(  # wandb missing, whether or not it is installed here
        loggers.importlib.util, "find_spec", lambda name: None if name == "wandb" else real(name)
    )
    out = tmp_path / "out"
    args = ["run", "--profile", "smoke", "--out", str(out), "--methods", "l2"]
    assert main([*args, "--tasks", "sketch-cls", "--log", log]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not out.exists()
