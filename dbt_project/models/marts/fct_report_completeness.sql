{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['province_code', 'report_date'],
        on_schema_change='fail',
        indexes=[{'columns': ['province_code', 'report_date']}, {'columns': ['built_at']}],
        pre_hook="{% if is_incremental() %}
            delete from {{ this }} as current_rows
            using ({{ completeness_changed_days() }}) as changed
            where changed.province_code = current_rows.province_code
              and changed.report_date = current_rows.report_date
        {% endif %}"
    )
}}
-- Report completeness and timeliness per province, organisation and day (like DHIS2 reporting rate
-- and timeliness). Expected reports come from the source registry (raw.expected_reports); a report
-- is received when any version of it arrived (a header-only file counts, a missing file does not).
-- Arrival = the source file's modification time, else the time it was fetched; on time = the first
-- version arrived by the deadline. Row counts are those of the current (non-superseded) version.
--
-- Incremental: a run recomputes only the (province, report day) pairs with a file or an expected
-- report changed since a day before its last build, or a deadline after it (macro
-- completeness_changed_days: a pending report becomes missing at its deadline without new data),
-- reading only those days' files and expected reports. Their rows are deleted first (pre_hook: a day
-- whose reports all vanished), and again by delete+insert on (province, day) (a file stamped between
-- the pre_hook and the select). Other days' rows are not touched.

-- depends_on: {{ ref('stg_collections__report_files') }}, {{ ref('stg_collections__expected_reports') }}

with

{% if is_incremental() %}
changed_days as (

    {{ completeness_changed_days() }}

),
{% endif %}

-- incremental: the changed days' rows only, each day looked up through the tables' keys
expected as (

    select expected.*
    {{ rows_of_changed_keys('stg_collections__expected_reports', 'expected', 'changed_days',
                            [('province_code', 'province_code'), ('report_date', 'report_date')]) }}

),

files as (

    select files.*
    {{ rows_of_changed_keys('stg_collections__report_files', 'files', 'changed_days',
                            [('file_province_code', 'province_code'), ('report_date', 'report_date')]) }}
    where files.file_status <> 'landed'

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
    file_reason::text as file_reason,
    now()::timestamptz as built_at
from joined
