# The production image: Airflow 3 with the project's pinned dependencies and the bhxh package.
FROM apache/airflow:3.3.2-python3.11
USER airflow
COPY --chown=airflow:root requirements.lock /opt/bhxh/requirements.lock
RUN pip install --no-cache-dir -r /opt/bhxh/requirements.lock
COPY --chown=airflow:root pyproject.toml airflow_local_settings.py /opt/bhxh/
COPY --chown=airflow:root bhxh /opt/bhxh/bhxh
COPY --chown=airflow:root dags /opt/bhxh/dags
COPY --chown=airflow:root dbt_project /opt/bhxh/dbt_project
COPY --chown=airflow:root expectations /opt/bhxh/expectations
COPY --chown=airflow:root config /opt/bhxh/config
RUN pip install --no-cache-dir --no-deps -e /opt/bhxh \
 && cd /opt/bhxh/dbt_project && dbt parse --profiles-dir . --quiet
