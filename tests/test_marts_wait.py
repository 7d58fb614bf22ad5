"""The marts' wait for the collection DAGs' loads and the skip of a covered build (bhxh.orchestration), on
hand-made task contexts. The same functions under a real scheduler: tests/test_backfill.py (slow)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from airflow.sdk import Asset

from bhxh.orchestration import (LAST_LOADS_LOOK_SECONDS, LAST_LOADS_WAIT_SECONDS, MARTS_BUILD_URI, RAW_RECEIPTS_URI,
                                loads_in_progress, loads_left_after_the_running_ones, marts_build_covered)

T0 = datetime(2024, 6, 1, 8, 30, tzinfo=timezone.utc)


class TaskInstance:
    def __init__(self, unfinished_loads: int | dict = 0, run_states: dict | None = None):
        self.unfinished_loads, self.run_states, self.asked = unfinished_loads, run_states or {}, []

    def get_ti_count(self, dag_id, task_ids, states):
        self.asked.append((dag_id, tuple(task_ids), tuple(states)))
        return self.unfinished_loads.get(dag_id, 0) if isinstance(self.unfinished_loads, dict) else self.unfinished_loads

    def get_dagrun_state(self, dag_id, run_id):
        return self.run_states[(dag_id, run_id)]


class Events(list):
    def ascending(self, flag):
        return Events(sorted(self, key=lambda e: e.timestamp, reverse=not flag))

    def limit(self, n):
        return Events(self[:n])


def event(at, run_id="r"):
    return SimpleNamespace(timestamp=at, source_dag_id="bhxh_marts", source_run_id=run_id)


def context(run_type, ti, raw=(), builds=()):
    return {"dag_run": SimpleNamespace(run_type=run_type), "ti": ti,
            "inlet_events": {Asset(RAW_RECEIPTS_URI): Events(raw), Asset(MARTS_BUILD_URI): Events(builds)}}


def test_an_asset_triggered_run_waits_for_every_unfinished_load():
    """Of both collection DAGs: the daily one's and the backfill DAG's (a month per run)."""
    ti = TaskInstance(unfinished_loads={"bhxh_daily_collection": 3, "bhxh_collection_backfill": 2})
    assert loads_in_progress(context("asset_triggered", ti)) == 5
    assert [(dag_id, task_ids) for dag_id, task_ids, _ in ti.asked] == [
        ("bhxh_daily_collection", ("validate_and_load",)), ("bhxh_collection_backfill", ("validate_and_load",))]
    states = ti.asked[0][2]
    assert {"null", "queued", "running", "up_for_retry"} <= set(states)  # a backfill's queued runs count
    assert not {"success", "failed", "upstream_failed", "skipped"} & set(states)
    assert loads_in_progress(context("asset_triggered", TaskInstance({"bhxh_collection_backfill": 1}))) == 1


class Looks:
    """A backfill DAG's validate_and_load counts look after look: (unfinished, running), then the last
    pair for good; the daily DAG has none."""

    def __init__(self, *counts):
        self.counts, self.looks = list(counts), 0

    def get_ti_count(self, dag_id, task_ids, states):
        if dag_id != "bhxh_collection_backfill":
            return 0
        unfinished, running = self.counts[min(self.looks, len(self.counts) - 1)]
        if states == ["running"]:
            self.looks += 1
            return running
        return unfinished


class Clock:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


def test_the_last_running_loads_are_waited_for_in_place():
    """Two loads running and nothing else to come: looked at every LAST_LOADS_LOOK_SECONDS until they end."""
    clock = Clock()
    left = loads_left_after_the_running_ones(context("asset_triggered", Looks((2, 2), (1, 1), (1, 1), (0, 0))),
                                             sleep=clock.sleep, clock=clock)
    assert left == 0
    assert clock.slept == [LAST_LOADS_LOOK_SECONDS] * 3


def test_loads_still_to_come_are_left_to_the_next_look():
    """A load queued or a run not yet started: no waiting in place (the slot stays free for them)."""
    clock = Clock()
    assert loads_left_after_the_running_ones(context("asset_triggered", Looks((5, 2))),
                                             sleep=clock.sleep, clock=clock) == 5
    assert clock.slept == []


def test_the_wait_in_place_is_bounded():
    clock = Clock()
    assert loads_left_after_the_running_ones(context("asset_triggered", Looks((2, 2))),
                                             sleep=clock.sleep, clock=clock) == 2
    assert sum(clock.slept) == LAST_LOADS_WAIT_SECONDS


def test_a_manual_run_never_waits():
    """A daily run left 'running' by a killed dag.test must not hold `bhxh run`'s marts."""
    ti = TaskInstance(unfinished_loads=5)
    assert loads_in_progress(context("manual", ti)) == 0
    assert ti.asked == []


def test_a_build_is_covered_only_after_the_newest_load_and_when_it_succeeded():
    ok = TaskInstance(run_states={("bhxh_marts", "built"): "success", ("bhxh_marts", "broke"): "failed"})
    load = [event(T0, "daily")]
    later = T0 + timedelta(minutes=5)
    assert marts_build_covered(context("asset_triggered", ok, load, [event(later, "built")]))
    assert not marts_build_covered(context("asset_triggered", ok, load, [event(later, "broke")]))
    # a load after the last build: build again
    assert not marts_build_covered(context("asset_triggered", ok, load + [event(later + timedelta(seconds=1))],
                                           [event(later, "built")]))
    assert not marts_build_covered(context("asset_triggered", ok, load, []))  # never built
    assert not marts_build_covered(context("manual", ok, load, [event(later, "built")]))  # manual: always build
