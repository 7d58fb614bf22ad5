-- Report completeness and timeliness per province, organisation and day (like DHIS2 reporting rate
-- and timeliness). Expected reports come from the source registry (raw.expected_reports); a report
-- is received when any version of it arrived (a header-only file counts, a missing file does not).
-- Arrival = the source file's modification time, else the time it was fetched; on time = the first
-- version arrived by the deadline. Row counts are those of the current (non-superseded) version.

with

expected as (

    select * from {{ ref('stg_collections__expected_reports') }}

),

files as (

    select * from {{ ref('stg_collections__report_files') }}
    where file_status <> 'landed'

),

arrivals as (

    select
        file_province_code as province_code,
        report_date,
        org_code,
        min(coalesce(source_modified_at, fetched_at)) as received_at,
        count(*) as versions_received

    from files
    group by 1, 2, 3

),

current_version as (

    select distinct on (file_province_code, report_date, org_code)
        file_province_code as province_code,
        report_date,
        org_code,
        file_id,
        file_version,
        file_status,
        rows_received,
        rows_loaded,
        rows_quarantined,
        file_reason

    from files
    where file_status <> 'superseded'
    order by file_province_code, report_date, org_code, file_version desc, file_id desc

),

report_keys as (

    select province_code, report_date, org_code from expected
    union
    select province_code, report_date, org_code from arrivals

),

joined as (

    select
        report_keys.province_code,
        report_keys.org_code,
        report_keys.report_date,
        expected.org_code is not null as is_expected,
        arrivals.org_code is not null as is_received,
        expected.deadline_at,
        arrivals.received_at,
        coalesce(arrivals.versions_received, 0) as versions_received,
        current_version.file_id,
        current_version.file_version,
        current_version.file_status,
        current_version.rows_received,
        current_version.rows_loaded,
        current_version.rows_quarantined,
        current_version.file_reason

    from report_keys
    left join expected
        on expected.province_code = report_keys.province_code
       and expected.report_date = report_keys.report_date
       and expected.org_code = report_keys.org_code
    left join arrivals
        on arrivals.province_code = report_keys.province_code
       and arrivals.report_date = report_keys.report_date
       and arrivals.org_code = report_keys.org_code
    left join current_version
        on current_version.province_code = report_keys.province_code
       and current_version.report_date = report_keys.report_date
       and current_version.org_code = report_keys.org_code

)

select
    province_code::text as province_code,
    org_code::text as org_code,
    report_date::date as report_date,
    is_expected as expected,
    is_received as received,
    (case when is_received and deadline_at is not null then received_at <= deadline_at end)::boolean as on_time,
    (case
        when is_received and deadline_at is not null
            then greatest(0, ceil(extract(epoch from (received_at - deadline_at)) / 86400.0))
     end)::integer as days_late,
    rows_received::integer as rows_received,
    rows_loaded::integer as rows_loaded,
    rows_quarantined::integer as rows_quarantined,
    (case
        when not is_received and deadline_at > now() then 'pending'
        when not is_received then 'missing'
        when file_status in ('rejected', 'quarantined') then 'rejected'
        when not is_expected then 'unexpected'
        when received_at > deadline_at then 'late'
        else 'on_time'
     end)::text as status,
    deadline_at::timestamptz as deadline_at,
    received_at::timestamptz as received_at,
    versions_received::integer as versions_received,
    file_id::bigint as file_id,
    file_version::integer as file_version,
    file_status::text as file_status,
    file_reason::text as file_reason
from joined
