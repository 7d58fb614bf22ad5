"""Marts: rebuild the dbt models when new receipts land, one Airflow task per dbt model (Cosmos).

Rendered from the manifest built at install time (``make install`` runs ``dbt parse``), so parsing
this file never starts dbt. Cosmos' watcher mode: one task runs a single ``dbt build`` (dbt starts
once; the incremental models cost the new data), and each model's task reports that model's result.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, dag

from bhxh.dbt_config import marts_task_group_kwargs, producer_first
from bhxh.orchestration import RAW_RECEIPTS_URI, START_DATE, TAGS, default_args
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
    producer_first(DbtTaskGroup(group_id="dbt", **marts_task_group_kwargs()))


bhxh_marts()
