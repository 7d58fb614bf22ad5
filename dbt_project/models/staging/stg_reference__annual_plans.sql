with

source as (

    select * from {{ ref('annual_plans') }}

),

renamed as (

    select
        year::integer as year,
        province_code::text as province_code,
        nullif(district_code::text, '') as district_code,
        district_name::text as district_name,
        scheme::text as scheme,
        metric::text as metric,
        plan_value::bigint as plan_value,
        status::text as plan_status,
        source::text as plan_source

    from source

)

select * from renamed
