"""Training: one loop for every mode, explicit state, resumable checkpoints.

* :mod:`~tardal.engine.loop`   :func:`train` and checkpoint save/restore
* :mod:`~tardal.engine.modes`  ``MODES`` registry, :class:`TrainContext`, the ``dt`` mode
* :mod:`~tardal.engine.detection_modes`  ``ct`` (default), ``tt``, ``ir``, ``vis``, ``frontend``
* :mod:`~tardal.engine.evaluate`  rebuilding a run from a checkpoint and scoring it on a split
* :mod:`~tardal.engine.plots`  ``results.png``, boxes drawn on images
* :mod:`~tardal.engine.state`  :class:`TrainState`, RNG capture/restore
* :mod:`~tardal.engine.data`   data set generation and loaders from config
* :mod:`~tardal.engine.optim`  optimisers and LR schedules
* :mod:`~tardal.engine.run`    run folder, ``results.csv``
"""

from tardal.engine.loop import RunResult, config_for_resume, resolve_resume, train
from tardal.engine.modes import MODES, Mode, TrainContext
from tardal.engine.state import TrainState

__all__ = ["train", "RunResult", "config_for_resume", "resolve_resume", "MODES", "Mode",
           "TrainContext", "TrainState"]
