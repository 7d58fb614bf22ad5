with

source as (

    select * from {{ source('raw', 'monthly_summaries') }}

),

renamed as (

    select
        province_code::text as province_code,
        date_trunc('month', month)::date as month,
        mandatory_si_participants::bigint as mandatory_si_participants,
        voluntary_si_participants::bigint as voluntary_si_participants,
        unemployment_insurance_participants::bigint as unemployment_insurance_participants,
        health_insurance_participants::bigint as health_insurance_participants,
        sha256 as file_sha256,
        loaded_at

    from source

)

select * from renamed
