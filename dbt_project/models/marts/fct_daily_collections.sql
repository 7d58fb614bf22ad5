{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['province_code', 'report_date']}, {'columns': ['built_at']}],
        pre_hook="{% if is_incremental() %}
            delete from {{ this }} as current_rows
            using ({{ daily_collection_changed_keys() }}) as changed
            where changed.province_code = current_rows.province_code
              and changed.report_date = current_rows.report_date
              and changed.org_code = current_rows.org_code
        {% endif %}"
    )
}}
-- Receipts that count (loaded files only) per province, report day, organisation and scheme.
--
-- Incremental and supersede-aware: a run rebuilds only the (province, report day, organisation)
-- keys with a receipt that started or stopped counting since its last build (max built_at; the
-- stamps of int_receipts__versions, macro daily_collection_changed_keys): their rows are deleted
-- first (pre_hook: a v2 superseded v1, or the key has no loaded file any more), then aggregated
-- again from their loaded files' receipts (joined by file_id). A new day costs its own receipts; a
-- corrected day is rebuilt whole; other rows are not touched. source_files names the loaded file
-- versions a row was built from. After a change of the provinces seed, run with --full-refresh.

-- depends_on: {{ ref('int_receipts__versions') }}

with

{% if is_incremental() %}
changed_keys as (

    {{ daily_collection_changed_keys() }}

),
{% endif %}

files as (

    select files.file_id, files.file_province_code, files.report_date, files.org_code
    -- each changed key's files through the manifest's key
    {{ rows_of_changed_keys('stg_collections__report_files', 'files', 'changed_keys',
                            [('file_province_code', 'province_code'), ('report_date', 'report_date'),
                             ('org_code', 'org_code')]) }}
    where files.file_status = 'loaded'

),

file_sets as (

    select
        file_province_code,
        report_date,
        org_code,
        string_agg(file_id::text, ',' order by file_id) as source_files
    from files
    group by 1, 2, 3

),

receipts as (

    select receipts.*, file_sets.source_files
    from (select * from {{ ref('int_receipts__counted') }}) as receipts
    inner join files
        on files.file_id = receipts.file_id
    inner join file_sets
        on file_sets.file_province_code = files.file_province_code
       and file_sets.report_date = files.report_date
       and file_sets.org_code = files.org_code
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
    source_files::text as source_files,
    now()::timestamptz as built_at
from receipts
group by 1, 2, 3, 4, 5, 12
