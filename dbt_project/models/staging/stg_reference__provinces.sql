with

source as (

    select * from {{ ref('provinces') }}

),

renamed as (

    select
        -- surrogate key: a code names a province only together with its validity start
        province_code::text || ':' || to_char(valid_from::date, 'YYYY-MM-DD') as province_key,
        province_code::text as province_code,
        province_name::text as province_name,
        valid_from::date as valid_from,
        valid_to::date as valid_to,
        nullif(successor_code::text, '') as successor_code

    from source

)

select * from renamed
