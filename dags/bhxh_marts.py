"""Marts: rebuild the dbt models when new receipts land, one Airflow task per dbt model (Cosmos).

Scheduled by the raw-receipts Asset that every daily run's validate_and_load emits. Airflow keeps one
marts run at a time (max_active_runs=1); the events that arrive meanwhile wait in its queue and start
one run when it ends, whatever their number. ``wait_for_loads`` first waits (a sensor in reschedule
mode: no task slot held between looks) until no validate_and_load of the daily DAG is still to
finish. On a normal day that is at once; during a backfill it holds the first marts run until the
last report day is loaded, so a backfill of a year builds the marts once after it (then once more for
the events queued meanwhile), not after every day, and never competes with the loads for the cores.

Rendered from the manifest built at install time (``make install`` runs ``dbt parse``), so parsing
this file never starts dbt. Cosmos' watcher mode: one task runs a single ``dbt build`` (dbt starts
once; the incremental models cost the new data), and each model's task reports that model's result.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, PokeReturnValue, dag, get_current_context, task

from bhxh.dbt_config import marts_task_group_kwargs, producer_first
from bhxh.orchestration import LOADS_POKE_SECONDS, RAW_RECEIPTS_URI, START_DATE, TAGS, default_args, loads_in_progress
from cosmos import DbtTaskGroup


@dag(
    dag_id="bhxh_marts",
    schedule=[Asset(RAW_RECEIPTS_URI)],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    # a failing model or test is not transient: one quick retry covers a dropped connection
    default_args=default_args(retries=1, retry_delay=timedelta(seconds=20)),
    tags=TAGS + ["dbt"],
    doc_md=__doc__,
)
def bhxh_marts():
    @task.sensor(mode="reschedule", poke_interval=LOADS_POKE_SECONDS, timeout=timedelta(hours=12).total_seconds())
    def wait_for_loads() -> PokeReturnValue:
        """Done when no validate_and_load of the daily DAG is still to finish (a backfill's loads)."""
        return PokeReturnValue(is_done=loads_in_progress(get_current_context()) == 0)

    dbt = DbtTaskGroup(group_id="dbt", **marts_task_group_kwargs())
    producer_first(dbt)
    wait_for_loads() >> dbt


bhxh_marts()
