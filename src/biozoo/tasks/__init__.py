"""Tasks as plugins: everything that depends on what is predicted, in one object per task.

``TASKS.get(name).from_options(options)`` gives the task of a config's target; see
:class:`~biozoo.tasks.base.Task` for what a task provides. Importing this package registers
the built-in tasks: ``binary``, ``multiclass``, ``regression``, ``survival`` and ``sequence``.
"""

from biozoo.tasks.base import (
    TASKS,
    BaselineModel,
    ColumnOptions,
    EncodedTarget,
    IdentityTarget,
    RankingTarget,
    Reference,
    TargetOptions,
    TargetTransform,
    Task,
    register_task,
)
from biozoo.tasks.classification import BinaryTask, ClassificationTask, MulticlassTask
from biozoo.tasks.regression import RegressionTask
from biozoo.tasks.sequence import SequenceOutput, SequenceTask
from biozoo.tasks.survival import SurvivalOptions, SurvivalTask

__all__ = [
    "TASKS",
    "BaselineModel",
    "BinaryTask",
    "ClassificationTask",
    "ColumnOptions",
    "EncodedTarget",
    "IdentityTarget",
    "MulticlassTask",
    "RankingTarget",
    "Reference",
    "RegressionTask",
    "SequenceOutput",
    "SequenceTask",
    "SurvivalOptions",
    "SurvivalTask",
    "TargetOptions",
    "TargetTransform",
    "Task",
    "register_task",
]
