with

source as (

    select * from {{ source('raw', 'expected_reports') }}

),

renamed as (

    select
        province_code::text as province_code,
        report_date::date as report_date,
        org_code::text as org_code,
        deadline as deadline_at,
        source_root,
        registered_at

    from source

)

select * from renamed
