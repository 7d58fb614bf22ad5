{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[
            {'columns': ['participant_key', 'scheme']},
            {'columns': ['counted_from']},
            {'columns': ['counted_until']},
            {'columns': ['report_date']},
            {'columns': ['collected_on']},
        ],
        pre_hook="{% if is_incremental() %}
            update {{ this }} as versions
            set counted_until = now()
            from {{ ref('stg_collections__report_files') }} as files
            where files.file_id = versions.file_id
              and files.file_status <> 'loaded'
              and files.changed_at > {{ last_built_at('counted_from') }} - interval '1 day'
              and versions.counted_until is null
        {% endif %}",
        post_hook="{{ unique_current_key(['file_id', 'line_no'], 'counted_until is null') }}"
    )
}}
-- Every receipt of every file that was loaded, with when it started counting (counted_from) and,
-- once its file was superseded (or otherwise stopped being 'loaded'), when it stopped
-- (counted_until). int_receipts__counted is its current part (counted_until is null).
--
-- Incremental: a run stamps the rows of files that stopped counting (pre_hook) and appends the
-- receipts of loaded files not in the table yet (joining raw.receipts by report_date and file_id, its
-- primary key, reading only the new files' report days),
-- so a new day costs its own receipts. The stamps are how the models downstream
-- (int_coverage_periods, int_new_participants__monthly) find what changed since their last build.
-- Each receipt gets the province its file's code meant on the file's report date.
-- Only the columns the models downstream read are kept (the table holds every receipt ever counted,
-- 9.5 GB for a national year with them all): a receipt's other columns (receipt_no, collection
-- point, commune, birth year, gender, income, subsidy group, extra columns) stay in raw.receipts
-- (stg_collections__receipts).
-- Indexes: a receipt is counted once: unique (file_id, line_no) over the current rows (counted_until
-- is null; macros/unique_current_key.sql), which also serves fct_daily_collections' reads of a file
-- set's receipts (through int_receipts__counted) and the lookups of a file's current rows below;
-- counted_from/counted_until (what changed since a model's last build), report_date (its max),
-- collected_on (a campaign's months), and (participant_key, scheme) for int_coverage_periods' changed participants (a btree:
-- a hash index on participant_key builds in half the time, 7 s against 14.5 s on a national quarter,
-- but with it the planner chose by its statistics sample between the index, 0.26 s, and a scan of
-- the whole table, 0.77 s, after 365 days).
-- participant_key and scheme are in the "C" collation (byte order): the (participant_key, scheme) index
-- builds in 32.5 s against 54.7 s on a national year's 35 M rows (the database's C.UTF-8 compares
-- through the C library, without abbreviated keys), and every sort or distinct count on them
-- downstream is in byte order too (int_coverage_periods sorts in "C" already).
-- The new files' ids are passed as a literal array (looked up when the model is compiled), so
-- PostgreSQL reads their receipts through the primary key instead of scanning raw.receipts.
-- Both look only at the files whose manifest row changed (raw.report_files.changed_at, indexed)
-- since a day before the latest counted_from (a loader transaction is never a day long): not at
-- every file of the history.
{%- set new_file_ids = '' -%}
{%- if execute and is_incremental() -%}
    {%- set new_file_ids = run_query(
        "select coalesce(string_agg(files.file_id::text, ','), '') from " ~ ref('stg_collections__report_files')
        ~ " as files where files.file_status = 'loaded' and files.changed_at > " ~ last_built_at('counted_from')
        ~ " - interval '1 day' and not exists (select 1 from " ~ this
        ~ " as versions where versions.file_id = files.file_id and versions.counted_until is null)"
    ).columns[0].values()[0] -%}
{%- endif %}

with

files as (

    select file_id, file_version, report_date
    from {{ ref('stg_collections__report_files') }}
    where file_status = 'loaded'

),

new_files as (

    select files.*
    from files
    {% if is_incremental() %}
    where files.file_id = any(array[{{ new_file_ids }}]::bigint[])
    {% endif %}

),

receipts as (

    select * from {{ ref('stg_collections__receipts') }}
    {% if is_incremental() %}
    -- raw.receipts is partitioned by month and keyed by (report_date, file_id, line_no): only the new
    -- files' days are read (a late file for an old day adds that day, not the months between), and in
    -- them only the new files, through the key
    where report_date = any(array(select distinct report_date from new_files))
      and file_id = any(array[{{ new_file_ids }}]::bigint[])
    {% endif %}

),

provinces as (

    select * from {{ ref('stg_reference__provinces') }}

)

select
    receipts.file_id,
    receipts.line_no,
    receipts.file_province_code,
    receipts.report_date,
    receipts.org_code,
    receipts.collected_on,
    receipts.district_code,
    receipts.participant_key collate "C" as participant_key,
    receipts.scheme collate "C" as scheme,
    receipts.transaction_type,
    receipts.period_start,
    receipts.months_paid,
    receipts.state_subsidy_vnd,
    receipts.amount_vnd,
    new_files.file_version,
    provinces.province_key as origin_province_key,
    now() as counted_from,
    null::timestamptz as counted_until

from new_files
inner join receipts
    on receipts.report_date = new_files.report_date
   and receipts.file_id = new_files.file_id
left join provinces
    on provinces.province_code = receipts.file_province_code
   and receipts.report_date between provinces.valid_from
                                and coalesce(provinces.valid_to, date '9999-12-31')
