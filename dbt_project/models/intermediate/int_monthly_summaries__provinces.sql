-- Monthly summaries attributed to the province their code meant in that month
-- (code 91 in 2025-05 is Kiên Giang, in 2025-08 An Giang).

with

summaries as (

    select * from {{ ref('stg_summaries__monthly_summaries') }}

),

provinces as (

    select * from {{ ref('stg_reference__provinces') }}

)

select
    provinces.province_key,
    summaries.province_code,
    summaries.month,
    summaries.mandatory_si_participants,
    summaries.voluntary_si_participants,
    summaries.unemployment_insurance_participants,
    summaries.health_insurance_participants
from summaries
inner join provinces
    on provinces.province_code = summaries.province_code
   and summaries.month between provinces.valid_from and coalesce(provinces.valid_to, date '9999-12-31')
