with

source as (

    select * from {{ ref('province_denominators') }}

),

renamed as (

    select
        province_code::text as province_code,
        province_name::text as province_name,
        year::integer as year,
        population::bigint as population,
        nullif(population_status, '')::text as population_status,
        labour_force_15plus::bigint as labour_force_15plus,
        nullif(labour_force_status, '')::text as labour_force_15plus_status,
        working_age_labour_force::bigint as working_age_labour_force,
        nullif(working_age_status, '')::text as working_age_labour_force_status

    from source

)

select * from renamed
