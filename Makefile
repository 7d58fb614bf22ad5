# BHXH coverage warehouse. `make demo` and `make test` work from a fresh clone with nothing running.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := .bhxh/demo-source
DEMO_START ?= 2024-05-13
DEMO_END ?= 2024-05-26
DEMO_PROVINCES ?= 30,31,01,26,91
DEMO_SCALE ?= 1
AIRFLOW_PORT ?= 8080

.PHONY: install demo test bench airflow test-celery warehouse-stop clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@rm -rf bhxh.egg-info  # a second copy of the metadata: Airflow would see the plugin entry point twice
	cd dbt_project && ../$(BIN)/dbt parse --profiles-dir . --quiet
	@touch $(STAMP)

demo: install
	$(BIN)/bhxh warehouse start
	@test -f $(DEMO_DIR)/_truth/summary.json || $(BIN)/bhxh generate --out $(DEMO_DIR) \
		--start $(DEMO_START) --end $(DEMO_END) --provinces $(DEMO_PROVINCES) --scale $(DEMO_SCALE) --seed 1
	$(BIN)/bhxh run --source $(DEMO_DIR) --start $(DEMO_START) --end $(DEMO_END)
	$(BIN)/bhxh report
	$(BIN)/bhxh dashboard --out .bhxh/dashboard
	@echo "Dashboard: file://$(CURDIR)/.bhxh/dashboard/index.html"
	@echo
	@echo "Query the marts: psql \"\$$($(BIN)/bhxh warehouse url)\" -c 'select * from marts.fct_coverage_monthly limit 5'"

test: install
	$(BIN)/pytest -q

# Benchmarks (not part of `make test`): each prints `bench NAME VALUE UNIT` lines (benchmarks/RESULTS.md).
# Generated sources are cached in BHXH_BENCH_CACHE (default .bhxh/bench-cache); a missing script is skipped.
BENCH_SCRIPTS ?= ingest incremental national
bench: install
	@status=0; for script in $(BENCH_SCRIPTS); do \
	  if [ -f benchmarks/$$script.py ]; then nice -n 5 $(BIN)/python benchmarks/$$script.py || status=1; \
	  else echo "# bench: benchmarks/$$script.py is not here, skipped"; fi; \
	done; exit $$status

# Airflow (api-server, scheduler, dag-processor, triggerer) with the project's DAGs, on 127.0.0.1
airflow: install
	$(BIN)/python -m bhxh.stack --port $(AIRFLOW_PORT)

# The CeleryExecutor stack for real (Redis, a worker, scheduler, dag-processor, api-server), and a
# backfill through a real scheduler: slow, kept out of `make test`
test-celery: install
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	$(BIN)/pytest -q -m slow -p no:cacheprovider tests/test_celery_stack.py tests/test_backfill.py

warehouse-stop:
	-$(BIN)/bhxh warehouse stop

clean: warehouse-stop
	rm -rf .bhxh dbt_project/target dbt_project/logs
