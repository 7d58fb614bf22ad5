"""A failing dbt test turns its own task red in the marts DAG (Cosmos watcher mode: one `dbt build`
whose per-node results the model and test tasks report), and the tasks of nodes that passed stay green.

The bad value is written into raw straight away, as if a check upstream had let it through: a receipt
whose scheme is neither TN nor HGD, which the accepted-values test on stg_collections__receipts catches.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg
import pytest
from sqlalchemy import select

from .airflow_helpers import dags, own_database

pytestmark = pytest.mark.e2e

DAY = date(2024, 5, 15)


def _states(run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)).all()
    return {task_id: str(state) for task_id, state in rows}


def test_a_failing_dbt_test_is_red_on_its_own_task(warehouse_url):
    from bhxh.orchestration import LOCAL_TZ

    with own_database(warehouse_url, "bhxh_test_marts_red") as url:
        with psycopg.connect(url) as conn:
            file_id = conn.execute(
                """insert into raw.report_files (province_code, report_date, org_code, version, source_path,
                                                 sha256, bytes, status, rows_received, rows_loaded, rows_quarantined)
                   values ('30', %s, 'VNPOST', 1, '30/2024-05-15/VNPOST.csv', 'x', 1, 'loaded', 1, 1, 0)
                   returning file_id""", (DAY,)).fetchone()[0]
            # raw.receipts refuses an unknown scheme (a CHECK constraint): dropped here, in this test's own
            # database, so that the row reaches the marts and their accepted_values test fails on it
            conn.execute("alter table raw.receipts drop constraint receipts_scheme_check")
            conn.execute(
                """insert into raw.receipts (file_id, line_no, file_province_code, report_date, org_code, receipt_no,
                                             collected_on, province_code, district_code, participant_key, scheme,
                                             transaction_type, period_start, months_paid, amount)
                   values (%s, 2, '30', %s, 'VNPOST', 'R1', %s, '30', '288', 'k1', 'XX', 'new', '2024-05-01', 1, 1)""",
                (file_id, DAY, DAY))
        dag = dags()["bhxh_marts"]
        selected = [t for t in dag.task_ids
                    if ".stg_collections__receipts." in t or ".stg_collections__report_files." in t]
        run = dag.partial_subset(task_ids=selected, include_upstream=True).test(run_after=datetime.now(tz=LOCAL_TZ))
        states = _states(run)

    assert str(run.state) == "failed"
    assert states["dbt.stg_collections__receipts.test"] == "failed", states
    assert states["dbt.stg_collections__receipts.run"] == "success", states  # the view built; its test failed
    assert states["dbt.stg_collections__report_files.test"] == "success", states
