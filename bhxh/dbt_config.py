"""dbt settings shared by the marts DAG (Cosmos) and the CLI: paths, profile, render options."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from bhxh.settings import Settings, get_settings

WAREHOUSE_CONN_ID = "bhxh_warehouse"


def dbt_env(settings: Settings | None = None) -> dict[str, str]:
    """Environment for dbt's own profiles.yml (CLI use): the transformer's login (settings.transformer_url)."""
    settings = settings or get_settings()
    url = urlsplit(settings.transformer_url)
    return {
        "BHXH_DBT_HOST": url.hostname or "127.0.0.1",
        "BHXH_DBT_PORT": str(url.port or 5432),
        "BHXH_DBT_USER": url.username or "postgres",
        "BHXH_DBT_PASSWORD": url.password or "",
        "BHXH_DBT_DBNAME": url.path.lstrip("/") or "bhxh",
        "BHXH_DBT_THREADS": str(settings.dbt_threads),
    }


def marts_task_group_kwargs(settings: Settings | None = None) -> dict:
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import (ExecutionMode, InvocationMode, LoadMode, SourceRenderingBehavior, TestBehavior,
                                  TestIndirectSelection)
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    settings = settings or get_settings()
    project_dir = settings.dbt_project_dir
    return {
        "project_config": ProjectConfig(
            dbt_project_path=project_dir,
            manifest_path=project_dir / "target" / "manifest.json",
            install_dbt_deps=False,
        ),
        "profile_config": ProfileConfig(
            profile_name="bhxh",
            target_name="airflow",
            profile_mapping=PostgresUserPasswordProfileMapping(
                conn_id=WAREHOUSE_CONN_ID, profile_args={"schema": "analytics", "threads": settings.dbt_threads}),
        ),
        # a task per model and one for its tests; a test over several models (relationships) has a
        # task of its own once all of them are built (cautious selection keeps it out of each).
        # sources with a freshness rule or tests become tasks of their own (`dbt source freshness`
        # on raw.report_files: error when nothing has been fetched for 7 days), upstream of staging
        "render_config": RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH,
                                      should_detach_multiple_parents_tests=True,
                                      source_rendering_behavior=SourceRenderingBehavior.WITH_TESTS_OR_FRESHNESS,
                                      # the Asset of raw receipts is the contract between DAGs, not
                                      # Cosmos' per-table assets
                                      emit_datasets=False,
                                      # exposures describe BI consumers; they are not tasks
                                      exclude=["resource_type:exposure"]),
        # dbt's own log lines stay quiet in the task log
        "operator_args": {"quiet": True},
        # one `dbt build` of the whole project (the producer task, dbt's start-up paid once) and a
        # task per model, seed, source and detached test that reports its node's result from it
        "execution_config": ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER, invocation_mode=InvocationMode.DBT_RUNNER,
            test_indirect_selection=TestIndirectSelection.CAUTIOUS),
    }


def producer_first(group) -> None:
    """Put the watcher's producer (the one `dbt build`) upstream of the group's root tasks, and make a
    failing dbt node red on its own task.

    Cosmos does so only for a DbtDag; in a DbtTaskGroup the per-node tasks start beside the producer
    and wait for its results. Upstream of them, the producer runs first in every executor, ``dag.test``
    (which runs tasks one at a time) included, and each node's task then reads its result at once.

    A failing test fails the whole `dbt build`, so the producer fails too. It gets no retries (Cosmos
    skips a producer's second attempt, and a skipped producer would skip every node's task, leaving the
    run green), and the root tasks run once it is done whatever its outcome (``all_done``): each reads
    its node's result, so the failed test is red, the nodes that passed green, and the nodes dbt skipped
    after the failure are skipped.
    """
    from airflow.sdk import TriggerRule
    from cosmos.constants import PRODUCER_WATCHER_DONE_TASK_ID, PRODUCER_WATCHER_TASK_ID

    tasks = {task.task_id: task for task in group.iter_tasks()} if hasattr(group, "iter_tasks") else {
        task_id: task for task_id, task in group.dag.task_dict.items() if task_id.startswith(group.group_id + ".")}
    producer = tasks[f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}"]
    producer.retries = 0
    gate = f"{group.group_id}.{PRODUCER_WATCHER_DONE_TASK_ID}"
    for task_id, task in tasks.items():
        if task is producer or task_id == gate:
            continue
        if not set(task.upstream_task_ids) & set(tasks):
            producer >> task
            task.trigger_rule = TriggerRule.ALL_DONE


def ensure_manifest(settings: Settings | None = None) -> None:
    """Build ``target/manifest.json`` with ``dbt parse`` when missing or older than the project."""
    import subprocess
    import sys
    from pathlib import Path

    settings = settings or get_settings()
    project = settings.dbt_project_dir
    manifest = project / "target" / "manifest.json"
    sources = [p for p in project.rglob("*") if p.is_file() and "target" not in p.parts and "logs" not in p.parts]
    if manifest.exists() and all(p.stat().st_mtime <= manifest.stat().st_mtime for p in sources):
        return
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run([str(dbt), "parse", "--profiles-dir", str(project), "--project-dir", str(project)],
                            cwd=project, env={**os.environ, **dbt_env(settings)}, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("dbt parse failed: " + " | ".join(result.stdout.strip().splitlines()[-5:]))
