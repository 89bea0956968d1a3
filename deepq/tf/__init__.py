"""The TensorFlow backend (``--set backend=tensorflow``; ``pip install 'deepq[tf]'``).

``learner.TFLearner`` implements the calls ``loop.Model`` makes of a learner (``act``,
``update``, ``sync_target``, ``state``/``restore``), so the loop, the replay, the
environments and the run bookkeeping are the ones the torch backend uses. Importing
deepq never imports TensorFlow: ``loop.Model`` imports this package only for a run
that chooses it.
"""

import os

# TensorFlow's C++ start-up notices (oneDNN, CPU features) would precede every run's
# first line; warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
