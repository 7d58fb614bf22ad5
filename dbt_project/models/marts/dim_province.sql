with

provinces as (

    select * from {{ ref('stg_reference__provinces') }}

),

successors as (

    select
        origin_province_key,
        target_province_key as successor_province_key
    from {{ ref('int_provinces__lineage') }}
    where relation = 'successor'

)

select
    provinces.province_key::text as province_key,
    provinces.province_code::text as province_code,
    provinces.province_name::text as province_name,
    provinces.valid_from::date as valid_from,
    provinces.valid_to::date as valid_to,
    provinces.successor_code::text as successor_code,
    successors.successor_province_key::text as successor_province_key,
    (provinces.valid_to is null)::boolean as is_current
from provinces
left join successors
    on successors.origin_province_key = provinces.province_key
