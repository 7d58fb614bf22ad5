with

source as (

    select * from {{ source('raw', 'report_files') }}

),

renamed as (

    select
        file_id,
        province_code::text as file_province_code,
        report_date::date as report_date,
        org_code::text as org_code,
        version::integer as file_version,
        source_path,
        sha256,
        bytes,
        fetched_at,
        source_modified_at,  -- the source file's modification time (its arrival), where known
        status::text as file_status,
        superseded_by as superseded_by_file_id,
        rows_received,
        rows_loaded,
        rows_quarantined,
        control_total as control_total_vnd,
        to_jsonb(extra_columns) as extra_columns,  -- jsonb: array columns break unit-test fixtures
        reason as file_reason,
        changed_at  -- when the row was inserted or last changed (status, counts): a trigger keeps it

    from source

)

select * from renamed
