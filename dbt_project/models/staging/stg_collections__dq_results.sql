with

source as (

    select * from {{ source('raw', 'dq_results') }}

),

renamed as (

    select
        run_id,
        file_id,
        province_code::text as province_code,
        report_date::date as report_date,
        file as file_path,
        check_name,
        success as is_success,
        unexpected_count,
        sample_values,
        severity,
        checked_at

    from source

)

select * from renamed
