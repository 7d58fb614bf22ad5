{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['run_id']}, {'columns': ['file_id']}, {'columns': ['checked_at']}],
        pre_hook="{% if is_incremental() %}
            delete from {{ this }} where file_id is null and run_id like 'anomaly:%'
        {% endif %}"
    )
}}
-- Every validation run x check (raw.dq_results: Great Expectations checks, whole-file rejections and
-- reader cell errors), plus collection anomalies as warnings (int_collections__anomalies).
-- sample_values never holds personal data in clear (bhxh.validate withholds participant codes and names).
--
-- Incremental: raw.dq_results only grows (one insert per validation run and file); a run appends the
-- (run, file) results not in the table yet, looking only at those checked since a day before the
-- latest one it holds (index on checked_at: a validation transaction is never a day long). The
-- anomaly rows (file_id null) are all replaced by the flagged rows of int_collections__anomalies
-- (itself incremental): a handful a day, so this part still grows with history, but slowly (it reads
-- the scored table, one row per province, day, scheme and measure).

with

checks as (

    select * from (select * from {{ ref('stg_collections__dq_results') }}) as checks
    {% if is_incremental() %}
    where checks.checked_at > {{ last_built_at('checked_at', 'file_id is not null') }} - interval '1 day'
      and not exists (
          select 1 from {{ this }} as current_rows
          where current_rows.run_id = checks.run_id
            and current_rows.file_id is not distinct from checks.file_id
      )
    {% endif %}

),

anomalies as (

    select * from {{ ref('int_collections__anomalies') }}
    where is_anomaly

),

unioned as (

    select
        run_id,
        province_code,
        report_date,
        file_path as file,
        check_name,
        is_success as success,
        unexpected_count,
        sample_values,
        checked_at,
        severity,
        file_id

    from checks

    union all

    select
        run_id,
        province_code,
        report_date,
        null as file,
        check_name,
        false as success,
        observed as unexpected_count,
        sample_values,
        built_at as checked_at,
        'warning' as severity,
        null as file_id

    from anomalies

)

select
    run_id::text as run_id,
    province_code::text as province_code,
    report_date::date as report_date,
    file::text as file,
    check_name::text as check_name,
    success::boolean as success,
    unexpected_count::bigint as unexpected_count,
    sample_values::jsonb as sample_values,
    checked_at::timestamptz as checked_at,
    severity::text as severity,
    file_id::bigint as file_id
from unioned
