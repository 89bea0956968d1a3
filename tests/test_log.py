"""deepq.log's run output: run directories, CSV tables, config.json, progress bars, metrics.csv."""

import csv
import json
import re
from dataclasses import dataclass

import pytest

from deepq import log
from deepq.config import param
from deepq.errors import DeepQError


@dataclass(frozen=True)
class Settings:
    alpha: float = param(0.1, "step size (per update)")
    sizes: tuple[int, ...] = param((1, 2), "widths")


def test_new_run_dir_names_and_creates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = log.new_run_dir("cartpole-seed3")
    assert run.parent.name == "runs" and run.is_dir()
    assert re.fullmatch(r"cartpole-seed3-\d{8}-\d{6}", run.name)
    given = log.new_run_dir("ignored", tmp_path / "a" / "b")
    assert given == tmp_path / "a" / "b" and given.is_dir()


def test_new_run_dir_that_cannot_be_made_is_one_error(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    with pytest.raises(DeepQError, match="run directory .*file exists and is not a directory"):
        log.new_run_dir("x", tmp_path / "file")
    with pytest.raises(DeepQError, match="cannot create and write the run directory .*file/run"):
        log.new_run_dir("x", tmp_path / "file" / "run")

    def unwritable(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(log.tempfile, "TemporaryFile", unwritable)
    with pytest.raises(DeepQError, match="Permission denied"):
        log.new_run_dir("x", tmp_path / "new" / "run")
    assert not (tmp_path / "new").exists()  # what it made is gone again


def test_write_csv_and_config(tmp_path):
    path = log.write_csv(tmp_path / "t.csv", ["a", "b"], [(1, 0.5), ("x", "")])
    assert path.read_text().splitlines() == ["a,b", "1,0.5", "x,"]
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no temporary file left
    saved = json.loads(log.write_config(tmp_path, Settings(alpha=0.02)).read_text())
    assert saved == {"alpha": 0.02, "sizes": [1, 2]}


def test_disabled_progress_bar_prints_nothing(capsys):
    bar = log.progress_bar(10, "quiet", enabled=False)
    bar.update(10)
    bar.close()
    assert capsys.readouterr() == ("", "")


def test_resumed_logger_drops_rows_after_the_checkpoint(tmp_path):
    logger = log.RunLogger(tmp_path, 100, tensorboard=False, progress=False)
    for step in (10, 20, 30):
        logger.episode(step, 0, 1.0, float(step), 5)
    logger.close()
    log.RunLogger(tmp_path, 100, start_step=20, tensorboard=False, progress=False).close()
    with open(tmp_path / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["step"] for r in rows] == ["10", "20"] and rows[1]["episode_return"] == "20.0"
    assert list(rows[0]) == log.COLUMNS


def test_time_left_counts_only_the_learning_phase():
    # before updates begin, and for ETA_AFTER_S seconds after, there is no estimate
    assert log.time_left(500, 10_000, None, now=100.0) == "estimating"
    assert log.time_left(1500, 10_000, (100.0, 1000), now=100.0 + log.ETA_AFTER_S - 0.1) == "estimating"
    # 1,000 steps in the 10 s since learning began: 100 steps/s, 8,000 steps left = 80 s,
    # whatever speed the steps before learn_start had
    assert log.time_left(2000, 10_000, (100.0, 1000), now=110.0) == "01:20"
    assert log.time_left(2000, 1_002_000, (100.0, 1000), now=110.0) == "2:46:40"
    assert log.time_left(10_000, 10_000, (100.0, 1000), now=110.0) == "0:00"


def test_training_bar_says_estimating_until_learning_has_a_rate(tmp_path, capsys, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(log.time, "perf_counter", lambda: clock[0])
    logger = log.RunLogger(tmp_path, 10_000, tensorboard=False, progress=True, learn_start=1000)
    for _ in range(10):  # 1,000 fast acting-only steps in 1 s: tqdm alone would say ~9 s left
        clock[0] += 0.1
        logger.progress(100, None)
    logger._bar.refresh()
    first = capsys.readouterr().err
    assert "left=estimating" in first and "<" not in first.split("]")[0].rsplit("[", 1)[-1]
    for _ in range(10):  # then 100 learning steps per second
        clock[0] += 1.0
        logger.progress(100, -20.0)
    logger._bar.refresh()
    err = capsys.readouterr().err
    assert "left=01:20" in err.replace("\r", "\n").splitlines()[-1], err  # 8,000 steps at 100/s
    logger.close()
