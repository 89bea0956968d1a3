"""deepq: deep Q-learning, readable and complete.

    from deepq import DQN
    model = DQN.from_preset("cartpole", seed=1)
    model.learn(20_000)
"""

from deepq.algos.dqn import DQN, DQNConfig

__all__ = ["DQN", "DQNConfig"]
__version__ = "0.1.0"
