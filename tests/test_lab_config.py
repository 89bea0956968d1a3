"""The lab's typed configs: `deepq lab NAME --set/--config`, config.json, --help and errors."""

import csv
import dataclasses
import json
import re

import pytest

from deepq.errors import DeepQError
from deepq.lab import baird
from deepq.lab.cli import EXPERIMENTS, main


def lab(args, tmp_path, name="b"):
    """Run ``deepq lab`` small and quiet into tmp_path/name; (exit status, run directory)."""
    out = tmp_path / name
    return main([*args, "--run-dir", str(out), "--no-progress"]), out


def rows(out, method):
    with open(out / "baird.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["method"] == method]


def test_set_changes_config_json_and_the_run(tmp_path):
    rc, base = lab(["baird", "--runs", "2", "--set", "n_steps=60"], tmp_path, "base")
    assert rc == 0
    rc, out = lab(["baird", "--runs", "2", "--set", "n_steps=60", "--set", "td_alpha=0.02"], tmp_path)
    assert rc == 0
    saved, default = json.loads((out / "config.json").read_text()), json.loads((base / "config.json").read_text())
    assert saved["td_alpha"] == 0.02 and default["td_alpha"] == baird.BairdConfig().td_alpha
    assert saved["n_steps"] == 60 and saved["runs"] == 2 and saved["seed"] == 0
    assert {k for k in saved if saved[k] != default[k]} == {"td_alpha"}
    assert max(int(r["step_or_sweep"]) for r in rows(out, "TD")) == 60
    # the same seed, so the same samples: only what td_alpha drives has changed
    assert rows(out, "TD") != rows(base, "TD")
    assert rows(out, "expected TD (DP)") != rows(base, "expected TD (DP)")
    assert rows(out, "TDC") == rows(base, "TDC")


def test_config_file_and_option_precedence(tmp_path):
    toml = tmp_path / "b.toml"
    toml.write_text("td_alpha = 0.02\nruns = 3\nn_steps = 20\nseed = 4\n")
    rc, out = lab(["baird", "--config", str(toml), "--set", "n_steps=10", "--runs", "2"], tmp_path)
    assert rc == 0
    saved = json.loads((out / "config.json").read_text())
    # the file, then --set, then --runs and --seed
    assert (saved["td_alpha"], saved["n_steps"], saved["runs"], saved["seed"]) == (0.02, 10, 2, 4)


def test_default_run_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["baird", "--runs", "1", "--set", "n_steps=5", "--no-progress"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert re.fullmatch(r"lab-baird-\d{8}-\d{6}", run.name)
    assert {p.name for p in run.iterdir()} == {"config.json", "baird.csv", "baird.png"}


@pytest.mark.parametrize("args, message", [
    (["baird", "--set", "alpha=0.1"], "unknown config key 'alpha'"),
    (["baird", "--set", "td_alpha=fast"], "config key 'td_alpha' expects float, got 'fast'"),
    (["baird", "--set", "runs=0"], "config key 'runs' must be >= 1; got 0"),
    (["baird", "--set", "td_alpha"], "--set expects key=value, got 'td_alpha'"),
    (["baird", "--set", "td_alpha=nan"], "config key 'td_alpha' must be a finite number"),
    (["baird", "--runs", "0"], "--runs must be at least 1"),
    (["convergence", "--set", "epsilon=2"], "config key 'epsilon' must be <= 1.0; got 2.0"),
    (["triad", "--set", "approximators=linear,cubic"], "config key 'approximators' must be one of "
                                                       "tabular, linear, neural; got 'cubic'"),
    (["triad", "--set", "targets="], "config key 'targets' needs at least one value"),
    (["mountain-car", "--set", "best_alpha=0.3"], "config key 'best_alpha' must be one of alphas"),
    (["mountain-car", "--set", "nstep_n=1"], "config key 'nstep_n' must be >= 2; got 1"),
    (["random-walk", "--set", "groups=7"], "config key 'groups' must divide the 1000 states; got 7"),
    (["random-walk", "--config", "/nonexistent/lab.toml"], "config file not found: /nonexistent/lab.toml"),
])
def test_bad_keys_and_values_are_one_line_errors(tmp_path, capsys, args, message):
    rc, out = lab(args, tmp_path)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("deepq lab: error: ") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()  # nothing is written for a run that never started


def test_bad_toml_value_is_one_line(tmp_path, capsys):
    toml = tmp_path / "bad.toml"
    toml.write_text('td_alpha = "fast"\n')
    rc, _ = lab(["baird", "--config", str(toml)], tmp_path)
    err = capsys.readouterr().err
    assert rc == 2 and err == "deepq lab: error: config key 'td_alpha' expects float, got 'fast'\n"


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_help_lists_every_config_key_with_its_doc(name, capsys):
    assert main([name, "--help"]) == 0
    text = capsys.readouterr().out
    for f in dataclasses.fields(EXPERIMENTS[name][1]):
        assert f"  {f.name} (" in text and f.metadata["doc"][:30] in text, f.name


def test_run_takes_a_config_or_field_values():
    a = baird.run(baird.BairdConfig(runs=1, n_steps=30, td_alpha=0.02), show_progress=False)
    b = baird.run(runs=1, n_steps=30, td_alpha=0.02, show_progress=False)
    assert (a["weights"]["TD"] == b["weights"]["TD"]).all()
    with pytest.raises(DeepQError, match="config key 'runs' must be >= 1"):
        baird.run(runs=0, show_progress=False)
