import os

import pytest
import torch

# Two cores: keep each test's torch to one thread so parallel work elsewhere does not thrash.
torch.set_num_threads(1)
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)
