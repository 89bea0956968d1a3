"""deepq.plot's shared pieces: the band statistics and the mean ± band line."""

import numpy as np
import pytest

from deepq import plot


def test_band_bounds():
    samples = np.array([[1.0, 2.0], [3.0, 6.0]])  # two runs of two points
    mean, lo, hi = plot.band_bounds(samples, "se")
    se = np.array([np.std([1, 3], ddof=1), np.std([2, 6], ddof=1)]) / np.sqrt(2)
    assert mean == pytest.approx([2.0, 4.0]) and hi - mean == pytest.approx(se) and mean - lo == pytest.approx(se)
    _, lo, hi = plot.band_bounds(samples, "std")  # the spread of these seeds: ddof 0
    assert lo == pytest.approx([1.0, 2.0]) and hi == pytest.approx([3.0, 6.0])
    _, lo, hi = plot.band_bounds(samples, "minmax")
    assert lo == pytest.approx([1.0, 2.0]) and hi == pytest.approx([3.0, 6.0])
    assert plot.mean_se(samples[:1])[1] == pytest.approx([0.0, 0.0])  # one run: no band
    with pytest.raises(ValueError):
        plot.band_bounds(samples, "iqr")


def test_band_draws_mean_and_shade_in_one_colour(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    line = plot.band(ax, [0, 1], [[1.0, 2.0], [3.0, 6.0]], "a", spread="minmax", color="C3")
    assert line.get_ydata() == pytest.approx([2.0, 4.0]) and line.get_label() == "a"
    (shade,) = ax.collections
    assert shade.get_facecolor()[0][:3] == pytest.approx(plt.matplotlib.colors.to_rgb("C3"))
    out = plot.save_figure(fig, tmp_path / "f.png", dpi=50)
    assert out.stat().st_size > 0 and [p.name for p in tmp_path.iterdir()] == ["f.png"]
