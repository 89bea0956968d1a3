"""Importing this module registers the fixture environments (the ``MODULE:ENV_ID`` form)."""

from deepq_fixture_envs import register

register()
