"""Marts: rebuild the dbt models when new receipts land, one Airflow task per dbt model (Cosmos).

Scheduled by the raw-receipts Asset that every daily run's validate_and_load emits. Airflow keeps one
marts run at a time (max_active_runs=1); the events that arrive meanwhile wait in its queue and start
one run when it ends, whatever their number. ``wait_for_loads`` first waits (a sensor in reschedule
mode: no task slot held between looks) until no validate_and_load of the collection DAGs (the daily
one and ``bhxh_collection_backfill``) is still to finish. On a normal day that is at once; during a
backfill it holds the first marts run until the last report day is loaded (a look that finds only the
last loads running waits for them in place, so the build starts seconds after them), so a backfill of
a year builds the marts once after it, not after every day, and never competes with the loads for the
cores. The events queued meanwhile start a second run; it skips its build (every task after
``wait_for_loads``, none of them started) when the last build began after the newest raw-receipts
event and succeeded (``bhxh.orchestration.marts_build_covered``).

Rendered from the manifest built at install time (``make install`` runs ``dbt parse``), so parsing
this file never starts dbt. Cosmos' watcher mode: one task runs a single ``dbt build`` (dbt starts
once; the incremental models cost the new data), and each model's task reports that model's result.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, PokeReturnValue, dag, get_current_context, task
from airflow.sdk.exceptions import DownstreamTasksSkipped

from bhxh.dbt_config import marts_task_group_kwargs, producer_first
from bhxh.orchestration import (LOADS_POKE_SECONDS, MARTS_BUILD_URI, RAW_RECEIPTS_URI, START_DATE, TAGS, default_args,
                                loads_left_after_the_running_ones, marts_build_covered)
from cosmos import DbtTaskGroup


@dag(
    dag_id="bhxh_marts",
    schedule=[Asset(RAW_RECEIPTS_URI)],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    # a failing model or test is not transient: one quick retry covers a dropped connection, and
    # Airflow 3.3's deferral race (apache/airflow#67287: a watcher task whose trigger fires at once is
    # set up_for_retry by its deferring attempt's stale event; the retry runs its node alone)
    default_args=default_args(retries=1, retry_delay=timedelta(seconds=5)),
    tags=TAGS + ["dbt"],
    doc_md=__doc__,
)
def bhxh_marts():
    @task.sensor(mode="reschedule", poke_interval=LOADS_POKE_SECONDS, timeout=timedelta(hours=12).total_seconds(),
                 inlets=[Asset(RAW_RECEIPTS_URI), Asset(MARTS_BUILD_URI)], outlets=[Asset(MARTS_BUILD_URI)])
    def wait_for_loads() -> PokeReturnValue:
        """Done when no validate_and_load of the collection DAGs is still to finish (a backfill's loads); then
        the build starts (the MARTS_BUILD_URI event), unless the last build already covers every load:
        then every task after this one is skipped without starting (as ShortCircuitOperator does)."""
        context = get_current_context()
        if loads_left_after_the_running_ones(context):
            return PokeReturnValue(is_done=False)
        if marts_build_covered(context):
            raise DownstreamTasksSkipped(tasks=sorted(context["task"].get_flat_relative_ids(upstream=False)))
        return PokeReturnValue(is_done=True)

    dbt = DbtTaskGroup(group_id="dbt", **marts_task_group_kwargs())
    producer_first(dbt)
    wait_for_loads() >> dbt


bhxh_marts()
