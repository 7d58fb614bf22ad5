-- Every validation run x check (raw.dq_results: Great Expectations checks, whole-file rejections and
-- reader cell errors), plus collection anomalies as warnings (int_collections__anomalies).
-- sample_values never holds personal data in clear (bhxh.validate withholds participant codes and names).

with

checks as (

    select * from {{ ref('stg_collections__dq_results') }}

),

anomalies as (

    select * from {{ ref('int_collections__anomalies') }}

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
        checked_at,
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
