-- Coverage per province (code + validity) and month. A row exists for every province valid in the
-- month that has active participants from receipts, receipts reported in the month, or a monthly
-- summary. Rates are fractions, null when a component or the denominator is unknown.
-- is_complete_month: the province's receipts are in the warehouse from the month's first day on
-- (its first report day is on or before it). Earlier months appear when later payments cover them
-- (arrears) and their voluntary / household counts are partial.

with

provinces as (

    select * from {{ ref('dim_province') }}

),

active as (

    select
        province_key,
        month,
        sum(active_participants) filter (where scheme = 'TN') as voluntary_si_participants,
        sum(active_participants) filter (where scheme = 'HGD') as hi_household_participants
    from {{ ref('int_active_participants__monthly') }}
    group by 1, 2

),

summaries as (

    select * from {{ ref('int_monthly_summaries__provinces') }}

),

daily as (

    select * from {{ ref('fct_daily_collections') }}

),

reported_months as (

    select distinct province_key, date_trunc('month', report_date)::date as month
    from daily

),

first_report_days as (

    select province_key, min(report_date) as first_report_date
    from daily
    group by 1

),

denominators as (

    select * from {{ ref('int_province_denominators__yearly') }}

),

keys as (

    select province_key, month from active
    union
    select province_key, month from summaries
    union
    select province_key, month from reported_months

),

joined as (

    select
        keys.province_key,
        provinces.province_code,
        provinces.province_name,
        keys.month,
        denominators.working_age_labour_force as labour_force,
        denominators.working_age_labour_force_is_estimate as labour_force_is_estimate,
        denominators.working_age_labour_force_method as labour_force_method,
        denominators.population,
        denominators.population_is_estimate,
        summaries.mandatory_si_participants,
        coalesce(active.voluntary_si_participants, 0) as voluntary_si_participants,
        coalesce(active.hi_household_participants, 0) as hi_household_participants,
        summaries.health_insurance_participants,
        summaries.voluntary_si_participants as reported_voluntary_si_participants,
        summaries.unemployment_insurance_participants,
        coalesce(keys.month >= first_report_days.first_report_date, false) as is_complete_month
    from keys
    inner join provinces
        on provinces.province_key = keys.province_key
    left join active
        on active.province_key = keys.province_key and active.month = keys.month
    left join summaries
        on summaries.province_key = keys.province_key and summaries.month = keys.month
    left join denominators
        on denominators.province_key = keys.province_key
       and denominators.year = extract(year from keys.month)::int
    left join first_report_days
        on first_report_days.province_key = keys.province_key

)

select
    province_key::text as province_key,
    province_code::text as province_code,
    province_name::text as province_name,
    month::date as month,
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
    unemployment_insurance_participants::bigint as unemployment_insurance_participants,
    is_complete_month::boolean as is_complete_month
from joined
