-- National coverage per month, summed from fct_coverage_monthly (never averaged from rates).
-- Counts are sums over the provinces with a row that month; each rate is the sum of its numerator
-- over the sum of its denominator across the provinces where both are known, so a province without
-- a summary or a denominator drops out of numerator and denominator alike. provinces_included and
-- provinces_valid tell how complete the month is (63 provinces before 2025-07-01, 34 after).

with

provincial as (

    select * from {{ ref('fct_coverage_monthly') }}

),

provinces as (

    select * from {{ ref('dim_province') }}

),

valid_provinces as (

    select months.month, count(*) as provinces_valid
    from (select distinct month from provincial) as months
    inner join provinces
        on months.month between provinces.valid_from and coalesce(provinces.valid_to, date '9999-12-31')
    group by 1

),

national as (

    select
        month,
        count(*) as provinces_included,
        count(mandatory_si_participants) as provinces_with_summary,
        sum(labour_force) as labour_force,
        bool_or(labour_force_is_estimate) as labour_force_is_estimate,
        sum(population) as population,
        sum(mandatory_si_participants) as mandatory_si_participants,
        sum(voluntary_si_participants) as voluntary_si_participants,
        sum(mandatory_si_participants + voluntary_si_participants) filter (where si_coverage_rate is not null)
            as si_rate_numerator,
        sum(labour_force) filter (where si_coverage_rate is not null) as si_rate_denominator,
        sum(voluntary_si_participants) filter (where voluntary_si_rate is not null) as voluntary_rate_numerator,
        sum(labour_force) filter (where voluntary_si_rate is not null) as voluntary_rate_denominator,
        sum(hi_household_participants) as hi_household_participants,
        sum(health_insurance_participants) as health_insurance_participants,
        sum(health_insurance_participants) filter (where hi_coverage_rate is not null) as hi_rate_numerator,
        sum(population) filter (where hi_coverage_rate is not null) as hi_rate_denominator,
        sum(reported_voluntary_si_participants) as reported_voluntary_si_participants,
        sum(reconciliation_gap) as reconciliation_gap
    from provincial
    group by month

)

select
    'national'::text as scope,
    national.month::date as month,
    national.provinces_included::integer as provinces_included,
    national.provinces_with_summary::integer as provinces_with_summary,
    valid_provinces.provinces_valid::integer as provinces_valid,
    national.labour_force::bigint as labour_force,
    national.labour_force_is_estimate::boolean as labour_force_is_estimate,
    national.population::bigint as population,
    national.mandatory_si_participants::bigint as mandatory_si_participants,
    national.voluntary_si_participants::bigint as voluntary_si_participants,
    round(national.si_rate_numerator::numeric / nullif(national.si_rate_denominator, 0), 12)::numeric(18, 12)
        as si_coverage_rate,
    round(national.voluntary_rate_numerator::numeric / nullif(national.voluntary_rate_denominator, 0), 12)::numeric(18, 12)
        as voluntary_si_rate,
    national.hi_household_participants::bigint as hi_household_participants,
    national.health_insurance_participants::bigint as health_insurance_participants,
    round(national.hi_rate_numerator::numeric / nullif(national.hi_rate_denominator, 0), 12)::numeric(18, 12)
        as hi_coverage_rate,
    national.reported_voluntary_si_participants::bigint as reported_voluntary_si_participants,
    national.reconciliation_gap::bigint as reconciliation_gap
from national
left join valid_provinces
    on valid_provinces.month = national.month
