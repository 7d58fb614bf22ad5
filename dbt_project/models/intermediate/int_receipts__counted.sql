-- Receipts that count: rows of raw.receipts whose file version has status 'loaded'.
-- Superseded, quarantined, rejected (and merely landed) files never count.
-- Each receipt gets the province its file's code meant on the file's report date.

with

receipts as (

    select * from {{ ref('stg_collections__receipts') }}

),

files as (

    select file_id, file_status, file_version
    from {{ ref('stg_collections__report_files') }}

),

provinces as (

    select * from {{ ref('stg_reference__provinces') }}

),

counted as (

    select
        receipts.*,
        files.file_version,
        provinces.province_key as origin_province_key,
        provinces.province_name as origin_province_name

    from receipts
    inner join files
        on files.file_id = receipts.file_id
       and files.file_status = 'loaded'
    left join provinces
        on provinces.province_code = receipts.file_province_code
       and receipts.report_date between provinces.valid_from
                                    and coalesce(provinces.valid_to, date '9999-12-31')

)

select * from counted
