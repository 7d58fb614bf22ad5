"""Airflow's local settings for this project: Airflow imports this module (installed with the bhxh
package) when any of its processes starts.

A task runs in a process forked, without a new interpreter, from the one that executes it: a worker
of the scheduler's LocalExecutor, or a Celery worker. Whatever that process has imported, every
task it runs has already. The loads (``validate_and_load``) import Great Expectations, 2.5-2.9 s of
CPU each time: 25 times in a national year's backfill (two parts a month and the look-back), once
a day. Imported here, in the scheduler and in Celery workers only, it is paid once per process.

Only modules are imported: no settings, suites or contexts are made, so a task still reads those
fresh (an edited suite counts from the next task on, as before). Other Airflow processes (the API
server, the DAG processor, the triggerer, the CLI) import nothing more.
"""

from __future__ import annotations

import sys

__all__: list[str] = []  # nothing here overrides airflow.settings (Airflow copies the names listed)


def runs_tasks(argv: list[str]) -> bool:
    """Whether the command (``sys.argv``) is a process that forks tasks: ``airflow scheduler`` (the
    LocalExecutor's workers are its children) or ``airflow celery worker``."""
    words = [arg for arg in argv[1:] if not arg.startswith("-")]
    return words[:1] == ["scheduler"] or words[:2] == ["celery", "worker"]


if runs_tasks(sys.argv):
    import great_expectations  # noqa: F401  (the loads' validation)
    import pandas  # noqa: F401
