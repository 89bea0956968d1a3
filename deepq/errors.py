"""The one exception type the command line turns into a one-line message."""


class DeepQError(Exception):
    """A user-facing problem (bad config, unknown env, corrupt checkpoint, ...).

    The CLI prints ``error: <message>`` and exits with status 2, never a traceback.
    """


class DeepQWarning(UserWarning):
    """Something the user should know that does not stop the command (for example files
    in a checkpoint that deepq did not write). The CLI prints it as one line."""
