"""Builds Gymnasium environments and their wrapper stacks. No RL logic here.

Atari follows the DeepMind preprocessing (Mnih et al. 2015; Machado et al. 2018):
Gymnasium's ``AtariPreprocessing`` does the no-op starts, the frame skip with a max
over the last two frames, and the 84×84 grayscale uint8 resize; this module adds
only what Gymnasium lacks: pressing FIRE on reset and reporting a lost life in
``info["life_loss"]`` without ending the game. Reward clipping is the algorithm's
business (it clips what it stores), so the score logged by
``RecordEpisodeStatistics`` is always the real game score.
"""

from __future__ import annotations

import importlib
import re
import warnings

import ale_py
import gymnasium as gym
import numpy as np
from gymnasium.wrappers import (
    AtariPreprocessing,
    DtypeObservation,
    FlattenObservation,
    FrameStackObservation,
    RecordEpisodeStatistics,
    ReshapeObservation,
)

from deepq.errors import DeepQError

gym.register_envs(ale_py)


def is_atari(env_id: str, modules: tuple[str, ...] = ()) -> bool:
    spec = _spec(env_id, modules)
    return "ale_py" in str(spec.entry_point)


def load_modules(modules: tuple[str, ...]) -> None:
    """Import each ``module`` or ``module:function`` (and call the function): the
    ``env_modules`` setting, for packages that register their environments on import or
    when a function of theirs is called."""
    for entry in modules:
        name, _, func = entry.partition(":")
        if not name.strip():
            raise DeepQError(f"env_modules: {entry!r} names no module (write MODULE or MODULE:FUNCTION)")
        try:
            module = importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - a broken package is the user's to see, in one line
            raise DeepQError(" ".join(f"env_modules: cannot import '{name}': "
                                      f"{type(e).__name__}: {e}".splitlines())) from None
        if func:
            target = getattr(module, func, None)
            if not callable(target):
                raise DeepQError(f"env_modules: '{name}' has no function '{func}'")
            try:
                target()
            except Exception as e:  # noqa: BLE001
                raise DeepQError(" ".join(f"env_modules: {name}:{func}() failed: "
                                          f"{type(e).__name__}: {e}".splitlines())) from None


# pip targets for modules that Gymnasium's optional environments import (its extras)
_PIP_NAMES = {"jax": "gymnasium[jax]", "jaxlib": "gymnasium[jax]", "flax": "gymnasium[jax]",
              "Box2D": "gymnasium[box2d]", "mujoco": "gymnasium[mujoco]"}


def _import_failed(env_id: str, e: ImportError) -> DeepQError:
    """The one line for an environment whose code imports something that is not installed
    (``phys2d/CartPole-v1`` imports jax, ``GymV26Environment-v0`` shimmy)."""
    module = (e.name or "").partition(".")[0]
    if isinstance(e, ModuleNotFoundError) and module:
        return DeepQError(f"environment '{env_id}' needs the Python package '{module}', which is "
                          f"not installed: pip install \"{_PIP_NAMES.get(module, module)}\"")
    return DeepQError(f"environment '{env_id}' needs a package that is not installed "
                      f"or does not import: {e}")


def _spec(env_id: str, modules: tuple[str, ...] = ()):
    """The registered spec of ``env_id`` after importing ``modules`` (``load_modules``);
    ``module:EnvId`` imports ``module`` first, as ``gymnasium.make`` does."""
    load_modules(modules)
    if ":" in env_id:
        module, _, env_id = env_id.partition(":")
        load_modules((module,))
    try:
        return gym.spec(env_id)
    except gym.error.Error as e:
        ns = env_id.partition("/")[0] if "/" in env_id else None
        hint = (f"If a package registers namespace '{ns}', name its module with --env-module "
                f"MODULE (or MODULE:FUNCTION, setting env_modules), or write the id as "
                f"MODULE:{env_id}.") if ns else \
            ("If a package registers it, name its module with --env-module MODULE (or "
             "MODULE:FUNCTION, setting env_modules).")
        # Gymnasium's message repeats the id, which may hold a line break
        raise DeepQError(" ".join(f"unknown environment {env_id!r}: {e} {hint}".splitlines())) from None


class FireOnReset(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Press FIRE (then UP) after reset, for games that wait for it (Breakout, ...).

    The two steps follow OpenAI Baselines' ``FireResetEnv``; their rewards are 0.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)  # env.spec can rebuild the stack
        gym.Wrapper.__init__(self, env)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset()
        return obs, info


class LifeLossInfo(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Sets ``info["life_loss"] = True`` on a step that lost a life but not the game.

    The learner treats it as a termination (discount 0); the environment keeps
    running, so the episode return covers the whole game.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._lives = self.env.unwrapped.ale.lives()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        info["life_loss"] = bool(lives < self._lives and not terminated)
        self._lives = lives
        return obs, reward, terminated, truncated, info


class ChannelsFirst(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Image observations [H, W, C] → [C, H, W] (the layout the networks take)."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(
            np.transpose(space.low, (2, 0, 1)), np.transpose(space.high, (2, 0, 1)), dtype=space.dtype)

    def observation(self, obs):
        return np.ascontiguousarray(np.transpose(obs, (2, 0, 1)))


def channels_last(shape: tuple[int, ...], layout: str = "auto") -> bool:
    """Whether an image of ``shape`` (3 axes) has its channels last. ``auto``: channels
    first only when the first axis is the shortest, strictly ([4, 84, 84]); otherwise
    last, Gymnasium's convention ([84, 84, 3], and [10, 10, 10] when all agree)."""
    if layout != "auto":
        return layout == "hwc"
    return not shape[0] < min(shape[1], shape[2])


def _observations(env: gym.Env, env_id: str, layout: str) -> gym.Env:
    """Wrap ``env`` so that its observations are a vector [D] or an image [C, H, W], each
    in a compact dtype: Discrete one-hot and MultiBinary/MultiDiscrete flattened (uint8),
    images of any size and dtype with their channels first, a 2-D array as a
    one-channel image."""
    space = env.observation_space
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiBinary, gym.spaces.MultiDiscrete)):
        return DtypeObservation(FlattenObservation(env), np.uint8)  # one-hot / 0-1 entries
    if isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
        raise DeepQError(
            f"environment '{env_id}' has a {type(space).__name__} observation space; deepq takes "
            "one array: register a wrapped version (gymnasium.wrappers.FlattenObservation for "
            "vectors, or a wrapper that picks the image) and load it with --env-module")
    if not isinstance(space, gym.spaces.Box) or len(space.shape) not in (1, 2, 3) \
            or 0 in space.shape:
        raise DeepQError(f"environment '{env_id}' has observation space {space}; deepq takes "
                         "vectors [D], images [H, W], [C, H, W] or [H, W, C], and "
                         "Discrete/MultiBinary/MultiDiscrete")
    if len(space.shape) == 2:
        env = ReshapeObservation(env, (1, *space.shape))
    elif len(space.shape) == 3 and channels_last(space.shape, layout):
        env = ChannelsFirst(env)
    if len(space.shape) > 1 and space.dtype == np.uint8 and space.high.max() <= 1:
        env = DtypeObservation(env, np.bool_)  # 0/1 images are masks, not pixels to scale by 1/255
    return env


def make(
    env_id: str,
    frame_stack: int = 4,
    noop_max: int = 30,
    render_mode: str | None = None,
    modules: tuple[str, ...] = (),
    obs_layout: str = "auto",
) -> gym.Env:
    """Make ``env_id`` with the wrappers deepq trains on (after importing ``modules``).

    Atari ids (``*NoFrameskip-v4``, ``ALE/*-v5``) get the DeepMind stack and observations
    of shape [frame_stack, 84, 84] uint8; other ids get vector or channels-first image
    observations (``_observations``; ``obs_layout`` auto, chw or hwc). The action space
    must be discrete.
    """
    spec = _spec(env_id, modules)
    atari = "ale_py" in str(spec.entry_point)
    kwargs = {"render_mode": render_mode} if render_mode is not None else {}  # not every env takes one
    if atari:
        kwargs["frameskip"] = 1  # AtariPreprocessing does the skipping (and max-pooling)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = gym.make(spec, **kwargs)
    except gym.error.DependencyNotInstalled as e:
        raise DeepQError(f"environment '{env_id}' needs an extra package: {e}") from None
    except ImportError as e:  # an entry point's module imports a package that is not installed
        raise _import_failed(env_id, e) from None
    except gym.error.Error as e:
        raise DeepQError(f"cannot make environment '{env_id}': {e}") from None
    # Discrete(n, start=s) with s != 0 would be sent actions 0..n-1, not s..s+n-1
    if not isinstance(env.action_space, gym.spaces.Discrete) or env.action_space.start != 0:
        env.close()
        raise DeepQError(
            f"environment '{env_id}' has action space {env.action_space}; "
            "deep Q-learning needs a discrete action space (numbered from 0)"
        )
    if atari:
        env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=4, screen_size=84,
                                 terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)
        meanings = env.unwrapped.get_action_meanings()
        if len(meanings) >= 3 and meanings[1] == "FIRE":
            env = FireOnReset(env)
        env = LifeLossInfo(env)
        env = FrameStackObservation(env, frame_stack)
    else:
        try:
            env = _observations(env, env_id, obs_layout)
        except DeepQError:
            env.close()
            raise
    return RecordEpisodeStatistics(env)


def for_config(cfg, render_mode: str | None = None) -> gym.Env:
    """``make`` with a run config's environment fields."""
    return make(cfg.env_id, cfg.frame_stack, cfg.noop_max, render_mode, cfg.env_modules, cfg.obs_layout)


def for_evaluation(cfg, render_mode: str | None = None) -> gym.Env:
    """The evaluation environment that ``cfg.eval_protocol`` names."""
    if cfg.eval_protocol == "machado":
        return make_machado(cfg.env_id, cfg.frame_stack, cfg.env_modules, render_mode)
    return for_config(cfg, render_mode)


# Machado et al. 2018 ("Revisiting the Arcade Learning Environment"), section 5: sticky
# actions with ς = 0.25, the full action set, and episodes capped at 5 minutes of play
# (18,000 agent steps of 4 frames = 108,000 frames).
MACHADO = {"repeat_action_probability": 0.25, "full_action_space": True,
           "max_num_frames_per_episode": 108_000}


class ActionSubset(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """An agent's actions 0..k-1 sent as ``actions[0..k-1]`` of a larger action set: an
    agent trained on a game's minimal set acting in the full 18-action set."""

    def __init__(self, env: gym.Env, actions: tuple[int, ...]):
        gym.utils.RecordConstructorArgs.__init__(self, actions=tuple(actions))
        gym.ActionWrapper.__init__(self, env)
        self.actions = tuple(int(a) for a in actions)
        self.action_space = gym.spaces.Discrete(len(self.actions))

    def action(self, action):
        return self.actions[int(action)]


def machado_id(env_id: str, modules: tuple[str, ...] | None = None) -> str:
    """``ALE/GAME-v5`` for an Atari id (``GAMENoFrameskip-v4``, ``ALE/GAME-v5``, ...); with
    ``modules`` (the run's env_modules) the id must also be a registered Atari game."""
    if modules is not None and not is_atari(env_id, modules):
        raise DeepQError(f"eval_protocol = machado is for Atari games; '{env_id}' is not one")
    m = re.fullmatch(r"(?:ALE/)?([A-Za-z]+?)(?:NoFrameskip|Deterministic)?-v\d+", env_id.rpartition(":")[2])
    if m is None:
        raise DeepQError(f"eval_protocol = machado: cannot tell the game of '{env_id}'")
    return f"ALE/{m.group(1)}-v5"


def make_machado(env_id: str, frame_stack: int = 4, modules: tuple[str, ...] = (),
                 render_mode: str | None = None) -> gym.Env:
    """The Atari game of ``env_id`` under Machado et al.'s protocol, observed as deepq's
    agents see their training frames ([frame_stack, 84, 84] uint8, 4 frames per step with
    a max over the last two). Sticky actions act per frame, inside the ALE; no no-op
    starts and no FIRE on reset (sticky actions are the protocol's randomness); the game
    is the episode; the agent's minimal-set actions are mapped into the full set."""
    game = machado_id(env_id, modules)
    kwargs = {"render_mode": render_mode} if render_mode is not None else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make(game, frameskip=1, **MACHADO, **kwargs)
    minimal = tuple(a.value for a in env.unwrapped.ale.getMinimalActionSet())
    env = AtariPreprocessing(env, noop_max=0, frame_skip=4, screen_size=84,
                             terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)
    env = ActionSubset(env, minimal)
    env = FrameStackObservation(env, frame_stack)
    return RecordEpisodeStatistics(env)


def obs_info(env: gym.Env) -> tuple[tuple[int, ...], np.dtype, int | None]:
    """(observation shape, dtype, frame_stack or None) for building replay and network."""
    space = env.observation_space
    stacked = isinstance(env.env, FrameStackObservation) if hasattr(env, "env") else False
    return tuple(space.shape), np.dtype(space.dtype), (space.shape[0] if stacked else None)


def make_pool(env_id: str, num_envs: int, seed: int, frame_stack: int = 4, noop_max: int = 30,
              modules: tuple[str, ...] = ()):
    """``num_envs`` copies of the Atari game ``env_id`` in one EnvPool (C++ threads,
    ``pip install envpool``), preprocessed as ``make`` does: frame skip 4 with a max over
    the last two frames, 84×84 grayscale, ``noop_max`` no-op starts, FIRE on reset, no
    sticky actions; the game is the episode (lives are reported in ``info["lives"]``) and
    rewards stay raw. Returns a Gymnasium-style pool whose ``step`` and ``reset`` take
    environment ids."""
    spec = _spec(env_id, modules)
    env_id = env_id.rpartition(":")[2]
    name = env_id.removesuffix("NoFrameskip-v4")
    if "ale_py" not in str(spec.entry_point) or name == env_id:
        raise DeepQError(f"env_backend = envpool runs Atari *NoFrameskip-v4 games, not '{env_id}'")
    if not 0 <= seed < 2**31:  # EnvPool asserts its seed fits an int32
        raise DeepQError(f"env_backend = envpool takes seeds below 2**31; got seed = {seed}")
    try:
        import envpool
    except ImportError:
        raise DeepQError("env_backend = envpool needs EnvPool: pip install envpool") from None
    task = f"{name}-v5"
    if task not in envpool.list_all_envs():
        raise DeepQError(f"EnvPool has no game '{task}' for '{env_id}'")
    limit = {"max_episode_steps": spec.max_episode_steps // 4} if spec.max_episode_steps else {}
    return envpool.make_gymnasium(
        task, num_envs=num_envs, seed=seed, stack_num=frame_stack, noop_max=noop_max,
        frame_skip=4, img_height=84, img_width=84, gray_scale=True, episodic_life=False,
        reward_clip=False, repeat_action_probability=0.0, use_fire_reset=True, **limit)

