"""Training: one loop for every mode, explicit state, resumable checkpoints.

* :mod:`~tardal.engine.loop`       :func:`train`, the per-step term read-back
* :mod:`~tardal.engine.context`    :class:`Context` and :func:`build_context` (models, optimisers,
  EMA, criterion, mixed precision), used by the loop, ``tardal eval`` and the benchmark tools
* :mod:`~tardal.engine.steps`      the pieces of a step as plain functions
* :mod:`~tardal.engine.modes`      ``MODES``: ``ct`` (default), ``tt``, ``dt``, ``ir``, ``vis``,
  ``frontend``, each a short class composing the steps
* :mod:`~tardal.engine.validate`   validation after each epoch, previews
* :mod:`~tardal.engine.checkpoint` the checkpoint layout: save, load, resume, config
* :mod:`~tardal.engine.evaluate`   rebuilding a run from a checkpoint and scoring it on a split
* :mod:`~tardal.engine.state`      :class:`TrainState`, RNG capture/restore
* :mod:`~tardal.engine.data`       data set generation, loaders, masks in the workers
* :mod:`~tardal.engine.optim`      optimisers and the learning rate as a function of the step
* :mod:`~tardal.engine.run`        run folder, ``results.csv``
"""

from tardal.engine.checkpoint import resume_path as resolve_resume
from tardal.engine.context import Context, build_context
from tardal.engine.loop import RunResult, config_for_resume, train
from tardal.engine.modes import MODES, Mode
from tardal.engine.state import TrainState

__all__ = ["train", "RunResult", "config_for_resume", "resolve_resume", "MODES", "Mode",
           "Context", "build_context", "TrainState"]
