"""The alert queue wakes the evaluator by task name (the tasks import the services, which
import the queue): the name must be the task's."""

from invoicing.alerts import queue, tasks


def test_the_kick_names_the_evaluation_task() -> None:
    assert tasks.alerts_evaluate_task.name == queue.EVALUATE_TASK
