"""Each lab experiment, reduced, in-process, asserting the outcome that defines it."""

import numpy as np

from deepq.lab import baird, convergence, mountain_car, random_walk, triad
from deepq.lab.cli import main


def test_baird_td_diverges_tdc_and_etd_do_not():
    r = baird.run(n_steps=1000, runs=3, seed=0, show_progress=False)
    W, ve = r["weights"], r["sqrt_ve"]
    # Figure 11.2: from w₀ = (1,…,1,10,1) both semi-gradient methods grow without bound
    assert np.abs(W["TD"][:, -1]).max(1).min() > 100
    assert np.abs(W["expected TD (DP)"][0, -1]).max() > 100
    assert (ve["expected TD (DP)"][0, 1:] > ve["expected TD (DP)"][0, :-1]).all()  # monotone growth
    # Figure 11.5: TDC stays bounded and its projected Bellman error heads to 0
    assert np.abs(W["TDC"]).max() < 11 and np.abs(W["expected TDC"]).max() < 11
    assert r["sqrt_pbe"]["expected TDC"][0, -1] < 0.1 * r["sqrt_pbe"]["expected TDC"][0, 0]
    # Figure 11.6: expected emphatic TD reaches the true values (all 0)
    assert ve["expected ETD"][0, -1] < 1e-3


def test_random_walk_mc_beats_td_and_intermediate_n_is_best():
    r = random_walk.run(runs=2, mc_episodes=6000, td_episodes=300, nstep_runs=10, seed=0, show_progress=False)
    asym = r["asymptote_ve"]
    assert asym["least squares"] < asym["TD fixed point"]  # TD's bias (S&B eq. 9.14)
    # oracle regression and MC make the same progress; both below TD (and below v̂ = 0's VE)
    ve0 = float(random_walk.envs.random_walk_distribution() @ random_walk.envs.random_walk_true_values() ** 2)
    ve = {k: v.mean() for k, v in r["ve"].items()}
    assert ve["gradient MC"] < 0.5 * ve0 and abs(ve["gradient MC"] - ve["oracle regression"]) < 0.02
    # Figure 9.2 right: the best n is intermediate (n = 4 beats both n = 1 and n = 512)
    best = r["nstep_rms"].mean(1).min(1)
    n = list(random_walk.RandomWalkConfig().nstep_ns)
    assert best[n.index(4)] < best[n.index(1)] and best[n.index(4)] < best[n.index(512)]


def test_mountain_car_steps_fall():
    r = mountain_car.run(runs=2, episodes=40, sweep=False, seed=0, show_progress=False)
    for a, steps in r["alpha"].items():
        assert steps[:, -5:].mean() < 0.3 * steps[:, 0].mean(), a
    assert r["nstep"][8][:, -5:].mean() < 400
    assert r["cost_to_go"][2].max() > 20  # the surface has been learned away from w₀ = 0


def test_triad_only_all_three_diverge():
    r = triad.run(seeds=2, seed=0, sweep_scale=0.2, approximators=("tabular", "linear"), show_progress=False)
    for (mdp, kind, target, policy), cell in r.items():
        all_three = kind == "linear" and target == "TD" and policy == "off-policy"
        assert (set(cell["status"]) == {"diverged"}) if all_three else ("diverged" not in cell["status"]), \
            (mdp, kind, target, policy, cell["status"])


def test_triad_neural_mc_converges():
    err = triad.run_cell("two-state", "neural", "MC", "off-policy", seed=0, sweeps=300)
    assert triad.status(err) in ("converged", "converging")


def test_convergence_tables_linear_column():
    r = convergence.run(seeds=1, sweep_scale=0.5, approximators=("linear",), show_progress=False)
    ctl = {m: c["status"] for (m, _), c in r["control"].items()}
    assert ctl["Q-learning"] == ["diverged"]
    assert "diverged" not in ctl["Sarsa"] + ctl["MC control"] + ctl["gradient Q-learning"]
    md = r["markdown"]
    assert "| off-policy TD | ✗ |" in md and "| off-policy TDC | ✓ |" in md and "| Q-learning | ✗ |" in md


def test_cli_writes_png_and_csv(tmp_path, capsys):
    assert main(["baird", "--runs", "2", "--run-dir", str(tmp_path / "b"), "--no-progress"]) == 0
    assert (tmp_path / "b" / "baird.png").stat().st_size > 10_000
    assert (tmp_path / "b" / "baird.csv").read_text().startswith("method,step_or_sweep,quantity,mean,se")
    assert main(["nope"]) == 2
    assert main(["baird", "--runs", "0"]) == 2
    assert "error: --runs must be at least 1" in capsys.readouterr().err
