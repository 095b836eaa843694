"""Fine-tuning tasks: the parts of fine-tuning that depend on what is learnt.

    get_task("text-classification")          # -> the Task class; TASKS lists every name

Each task is a `Task` (minibert.tasks.base) in a file of its own; register a new one by
adding it to TASKS below. The training loop (minibert.training) and `minibert train --task`
work with any of them.
"""

from __future__ import annotations

from minibert.tasks.base import IGNORE_INDEX, MODEL_INPUTS, Feature, Task, collate
from minibert.tasks.classification import TextClassification
from minibert.tasks.token_classification import TokenClassification

TASKS: dict[str, type[Task]] = {task.name: task for task in (TextClassification, TokenClassification)}
DEFAULT_TASK = TextClassification.name


def get_task(name: str) -> type[Task]:
    """The Task class registered under `name`."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; the known tasks are: {', '.join(sorted(TASKS))}") from None


__all__ = ["DEFAULT_TASK", "Feature", "IGNORE_INDEX", "MODEL_INPUTS", "TASKS", "Task", "TextClassification", "TokenClassification", "collate",
           "get_task"]
