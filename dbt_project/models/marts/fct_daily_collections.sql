{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['province_code', 'report_date']}],
        pre_hook="{% if is_incremental() %}
            delete from {{ this }} as current_rows
            where not exists (
                select 1 from ({{ daily_collection_file_sets() }}) as file_sets
                where file_sets.province_code = current_rows.province_code
                  and file_sets.report_date = current_rows.report_date
                  and file_sets.org_code = current_rows.org_code
                  and file_sets.source_files = current_rows.source_files)
        {% endif %}"
    )
}}
-- Receipts that count (loaded files only) per province, report day, organisation and scheme.
--
-- Incremental and supersede-aware: each row carries source_files, the loaded file versions of its
-- (province, report day, organisation). A run first deletes the rows whose source_files no longer
-- match the loaded files (pre_hook: a v2 superseded v1, or the key has no loaded file any more),
-- then aggregates only the keys whose loaded files are not in the table yet (joining receipts by
-- file_id, the primary key of raw.receipts): a new day does not rebuild the past, a corrected
-- day is rebuilt whole. After a change of the provinces seed, run with --full-refresh.

with

file_sets as (

    {{ daily_collection_file_sets() }}

),

files as (

    select * from {{ ref('stg_collections__report_files') }}

),

counted as (

    select * from {{ ref('int_receipts__counted') }}

),

changed_keys as (

    select file_sets.*
    from file_sets
    {% if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as current_rows
        where current_rows.province_code = file_sets.province_code
          and current_rows.report_date = file_sets.report_date
          and current_rows.org_code = file_sets.org_code
          and current_rows.source_files = file_sets.source_files
    )
    {% endif %}

),

changed_files as (

    select files.file_id, changed_keys.source_files
    from changed_keys
    inner join files
        on files.file_province_code = changed_keys.province_code
       and files.report_date = changed_keys.report_date
       and files.org_code = changed_keys.org_code
       and files.file_status = 'loaded'

),

receipts as (

    select receipts.*, changed_files.source_files
    from counted as receipts
    inner join changed_files
        on changed_files.file_id = receipts.file_id
    where receipts.origin_province_key is not null

)

select
    origin_province_key::text as province_key,
    file_province_code::text as province_code,
    report_date::date as report_date,
    org_code::text as org_code,
    scheme::text as scheme,
    count(*)::bigint as receipts,
    count(distinct participant_key)::bigint as participants,
    coalesce(sum(amount_vnd), 0)::bigint as amount_vnd,
    coalesce(sum(state_subsidy_vnd), 0)::bigint as state_subsidy_vnd,
    (count(distinct participant_key) filter (where transaction_type = 'new'))::bigint as new_participants,
    (count(*) filter (where transaction_type = 'refund'))::bigint as refunds,
    source_files::text as source_files
from receipts
group by 1, 2, 3, 4, 5, 12
