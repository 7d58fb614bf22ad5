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
        array_agg(file_id) as file_ids,
        string_agg(file_id::text, ',' order by file_id) as source_files
    from files
    group by 1, 2, 3

)

-- Each file set (key) aggregated on its own, its receipts read through the index on file_id: the
-- distinct participants are counted with a sort of one key's receipts in memory, not with one sort
-- of every receipt on disk. A receipt carries its file's province code, report day and organisation
-- (the loader writes them from the manifest), so the key's columns are its file set's.
select
    totals.origin_province_key::text as province_key,
    file_sets.file_province_code::text as province_code,
    file_sets.report_date::date as report_date,
    file_sets.org_code::text as org_code,
    totals.scheme::text as scheme,
    totals.receipts::bigint as receipts,
    totals.participants::bigint as participants,
    totals.amount_vnd::bigint as amount_vnd,
    totals.state_subsidy_vnd::bigint as state_subsidy_vnd,
    totals.new_participants::bigint as new_participants,
    totals.refunds::bigint as refunds,
    file_sets.source_files::text as source_files,
    now()::timestamptz as built_at
from file_sets
cross join lateral (
    select
        receipts.origin_province_key,
        receipts.scheme,
        count(*) as receipts,
        count(distinct receipts.participant_key) as participants,
        coalesce(sum(receipts.amount_vnd), 0) as amount_vnd,
        coalesce(sum(receipts.state_subsidy_vnd), 0) as state_subsidy_vnd,
        count(distinct receipts.participant_key) filter (where receipts.transaction_type = 'new') as new_participants,
        count(*) filter (where receipts.transaction_type = 'refund') as refunds
    from (select * from {{ ref('int_receipts__counted') }}) as receipts
    where receipts.file_id = any(file_sets.file_ids)
      and receipts.origin_province_key is not null
    group by receipts.origin_province_key, receipts.scheme
) as totals
