-- Coverage targets (national and provincial) against the actual rate per month up to the deadline.
--
-- * scope 'national': fct_coverage_monthly_national (sum of the reporting provinces).
-- * scope = a province code: the code names the province valid at the deadline, or, when that code
--   was no longer valid at the deadline, the latest province with that code before it (Hải Dương's
--   55% by 2025-12-31 names old 30, which merged into Hải Phòng on 2025-07-01). A current province
--   reads fct_coverage_monthly_current_geography (history summed through the merger); an old one
--   reads fct_coverage_monthly and has no actual after its last valid month.
-- * gap = target - actual; participants_needed = max(gap, 0) x the denominator (labour force or
--   population) rounded up; projected_value_at_deadline extends the linear trend of the last 12
--   months (null without a value 12 months earlier); on_track = projected >= target.
-- ui_coverage_rate uses the summaries' unemployment insurance participants / labour force.

with

targets as (

    select * from {{ ref('stg_reference__targets') }}

),

provinces as (

    select * from {{ ref('dim_province') }}

),

target_province as (

    select distinct on (targets.target_id)
        targets.target_id,
        provinces.province_key,
        provinces.is_current
    from targets
    inner join provinces
        on provinces.province_code = targets.scope
       and provinces.valid_from <= targets.deadline
    where targets.scope <> 'national'
    order by targets.target_id, provinces.valid_from desc

),

actuals as (

    select
        'national' as actual_key,
        month,
        si_coverage_rate,
        voluntary_si_rate,
        hi_coverage_rate,
        null::numeric as ui_coverage_rate,
        labour_force,
        population
    from {{ ref('fct_coverage_monthly_national') }}

    union all

    select
        'current:' || province_key,
        month,
        si_coverage_rate,
        voluntary_si_rate,
        hi_coverage_rate,
        null::numeric,
        labour_force,
        population
    from {{ ref('fct_coverage_monthly_current_geography') }}

    union all

    select
        'province:' || province_key,
        month,
        si_coverage_rate,
        voluntary_si_rate,
        hi_coverage_rate,
        round(unemployment_insurance_participants::numeric / nullif(labour_force, 0), 12),
        labour_force,
        population
    from {{ ref('fct_coverage_monthly') }}

),

target_keys as (

    select
        targets.*,
        target_province.province_key as target_province_key,
        case
            when targets.scope = 'national' then 'national'
            when target_province.is_current then 'current:' || target_province.province_key
            else 'province:' || target_province.province_key
        end as actual_key
    from targets
    left join target_province
        on target_province.target_id = targets.target_id

),

monthly as (

    select
        target_keys.target_id,
        target_keys.scope,
        target_keys.target_province_key,
        target_keys.metric,
        target_keys.target_value,
        target_keys.deadline,
        target_keys.source_document,
        target_keys.target_status,
        actuals.month,
        case target_keys.metric
            when 'si_coverage_rate' then actuals.si_coverage_rate
            when 'voluntary_si_rate' then actuals.voluntary_si_rate
            when 'hi_coverage_rate' then actuals.hi_coverage_rate
            when 'ui_coverage_rate' then actuals.ui_coverage_rate
        end as actual_value,
        case when target_keys.metric = 'hi_coverage_rate'
             then actuals.population else actuals.labour_force end as denominator
    from target_keys
    inner join actuals
        on actuals.actual_key = target_keys.actual_key
       and actuals.month <= target_keys.deadline

),

with_trend as (

    select
        current_month.*,
        year_before.actual_value as actual_value_12_months_before,
        {{ months_between('current_month.month', "date_trunc('month', current_month.deadline)") }}
            as months_to_deadline
    from monthly as current_month
    left join monthly as year_before
        on year_before.target_id = current_month.target_id
       and year_before.month = (current_month.month - interval '12 months')::date

)

select
    month::date as month,
    target_id::text as target_id,
    scope::text as scope,
    target_province_key::text as target_province_key,
    metric::text as metric,
    target_value::numeric(18, 12) as target_value,
    deadline::date as deadline,
    source_document::text as source_document,
    target_status::text as target_status,
    actual_value::numeric(18, 12) as actual_value,
    (target_value - actual_value)::numeric(18, 12) as gap,
    case when actual_value is not null
         then ceil(greatest(target_value - actual_value, 0) * denominator) end::bigint as participants_needed,
    round(actual_value
          + (actual_value - actual_value_12_months_before) / 12.0 * months_to_deadline, 12)::numeric(18, 12)
        as projected_value_at_deadline,
    (round(actual_value
          + (actual_value - actual_value_12_months_before) / 12.0 * months_to_deadline, 12) >= target_value)::boolean
        as on_track
from with_trend
