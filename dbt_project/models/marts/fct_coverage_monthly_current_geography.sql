-- Coverage per current (34-province) province and month, history summed through the 2025-07-01
-- merger: before the merger a current province is the sum of the old provinces whose successor it
-- is (Hải Phòng = old Hải Dương + old Hải Phòng). Receipts-derived counts are summed (a missing
-- row is zero active participants); summary counts and denominators are summed only when every
-- constituent province has one (otherwise null), and the rates are recomputed from the sums.

with

provincial as (

    select * from {{ ref('fct_coverage_monthly') }}

),

provinces as (

    select * from {{ ref('dim_province') }}

),

current_of as (

    select
        origin_province_key as province_key,
        target_province_key as current_province_key,
        target_province_code as current_province_code,
        target_province_name as current_province_name
    from {{ ref('int_provinces__lineage') }}
    where target_valid_to = date '9999-12-31'
      and relation in ('self', 'successor')

),

months as (

    select distinct month from provincial

),

constituents as (

    select
        current_of.current_province_key,
        current_of.current_province_code,
        current_of.current_province_name,
        months.month,
        provinces.province_key
    from months
    inner join provinces
        on months.month between provinces.valid_from and coalesce(provinces.valid_to, date '9999-12-31')
    inner join current_of
        on current_of.province_key = provinces.province_key

),

denominators as (

    select * from {{ ref('int_province_denominators__yearly') }}

),

summed as (

    select
        constituents.current_province_key,
        constituents.current_province_code,
        constituents.current_province_name,
        constituents.month,
        count(*) as constituent_provinces,
        count(provincial.province_key) as constituents_with_data,
        case when count(*) = count(denominators.working_age_labour_force)
             then sum(denominators.working_age_labour_force) end as labour_force,
        coalesce(bool_or(denominators.working_age_labour_force_is_estimate), false) as labour_force_is_estimate,
        case when count(*) = 1 then max(denominators.working_age_labour_force_method)
             else 'derived:sum_of_constituents ('
                  || string_agg(distinct denominators.working_age_labour_force_method, '; ') || ')'
        end as labour_force_method,
        case when count(*) = count(denominators.population)
             then sum(denominators.population) end as population,
        coalesce(bool_or(denominators.population_is_estimate), false) as population_is_estimate,
        case when count(*) = count(provincial.unemployment_insurance_participants)
             then sum(provincial.unemployment_insurance_participants) end as unemployment_insurance_participants,
        case when count(*) = count(provincial.mandatory_si_participants)
             then sum(provincial.mandatory_si_participants) end as mandatory_si_participants,
        coalesce(sum(provincial.voluntary_si_participants), 0) as voluntary_si_participants,
        coalesce(sum(provincial.hi_household_participants), 0) as hi_household_participants,
        case when count(*) = count(provincial.health_insurance_participants)
             then sum(provincial.health_insurance_participants) end as health_insurance_participants,
        case when count(*) = count(provincial.reported_voluntary_si_participants)
             then sum(provincial.reported_voluntary_si_participants) end as reported_voluntary_si_participants
    from constituents
    left join provincial
        on provincial.province_key = constituents.province_key
       and provincial.month = constituents.month
    left join denominators
        on denominators.province_key = constituents.province_key
       and denominators.year = extract(year from constituents.month)::int
    group by 1, 2, 3, 4
    having count(provincial.province_key) > 0

)

select
    current_province_key::text as province_key,
    current_province_code::text as province_code,
    current_province_name::text as province_name,
    month::date as month,
    constituent_provinces::integer as constituent_provinces,
    constituents_with_data::integer as constituents_with_data,
    labour_force::bigint as labour_force,
    labour_force_is_estimate::boolean as labour_force_is_estimate,
    labour_force_method::text as labour_force_method,
    population::bigint as population,
    population_is_estimate::boolean as population_is_estimate,
    mandatory_si_participants::bigint as mandatory_si_participants,
    voluntary_si_participants::bigint as voluntary_si_participants,
    round((mandatory_si_participants + voluntary_si_participants)::numeric
          / nullif(labour_force, 0), 12)::numeric(18, 12) as si_coverage_rate,
    round(voluntary_si_participants::numeric / nullif(labour_force, 0), 12)::numeric(18, 12) as voluntary_si_rate,
    hi_household_participants::bigint as hi_household_participants,
    health_insurance_participants::bigint as health_insurance_participants,
    round(health_insurance_participants::numeric / nullif(population, 0), 12)::numeric(18, 12) as hi_coverage_rate,
    reported_voluntary_si_participants::bigint as reported_voluntary_si_participants,
    (voluntary_si_participants - reported_voluntary_si_participants)::bigint as reconciliation_gap,
    unemployment_insurance_participants::bigint as unemployment_insurance_participants
from summed
