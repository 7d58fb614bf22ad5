-- Coverage targets (national and provincial) against the actual rate per month up to the deadline.
--
-- * scope 'national': sums over the provinces with data (fct_coverage_monthly_national; the
--   unemployment insurance rate summed here from fct_coverage_monthly), never averaged from rates.
-- * scope = a province code: the code names the province valid at the deadline, or, when that code
--   was no longer valid at the deadline, the latest province with that code before it (Hải Dương's
--   55% by 2025-12-31 names old 30, which merged into Hải Phòng on 2025-07-01). A current province
--   reads fct_coverage_monthly_current_geography (history summed through the merger); an old one
--   reads fct_coverage_monthly, and after its last valid month gets rows without an actual value
--   and a measurement_note saying why (mandatory SI is reported only for the merged province).
-- * gap = target - actual; participants_needed = max(gap, 0) x the denominator (labour force, or
--   population for HI) rounded up.
-- * projected_value_at_deadline: the actual value plus the average monthly change since the
--   earliest value 3 to 12 months earlier (trend_base_month), times the months left to the
--   deadline; null with less than 3 months of history. After an old province's last valid month
--   the last projection is carried. on_track = projected >= target.
-- * A target with no measured month up to its deadline keeps one row (month = the deadline's month,
--   actual null) so that every target of the reference appears, with the reason in measurement_note.

with

targets as (

    select * from {{ ref('stg_reference__targets') }}

),

provinces as (

    select * from {{ ref('dim_province') }}

),

provincial as (

    select * from {{ ref('fct_coverage_monthly') }}

),

national as (

    select * from {{ ref('fct_coverage_monthly_national') }}

),

current_geography as (

    select * from {{ ref('fct_coverage_monthly_current_geography') }}

),

data_horizon as (

    select min(month) as first_month, max(month) as last_month from provincial

),

target_province as (

    select distinct on (targets.target_id)
        targets.target_id,
        provinces.province_key,
        provinces.province_name,
        provinces.valid_to,
        provinces.successor_province_key,
        provinces.is_current
    from targets
    inner join provinces
        on provinces.province_code = targets.scope
       and provinces.valid_from <= targets.deadline
    where targets.scope <> 'national'
    order by targets.target_id, provinces.valid_from desc

),

national_ui as (

    select
        month,
        round(sum(unemployment_insurance_participants)::numeric / nullif(sum(labour_force), 0), 12) as ui_coverage_rate
    from provincial
    where unemployment_insurance_participants is not null and labour_force is not null
    group by month

),

actuals as (

    select
        'national' as actual_key,
        national.month,
        national.si_coverage_rate,
        national.voluntary_si_rate,
        national.hi_coverage_rate,
        national_ui.ui_coverage_rate,
        national.labour_force,
        national.population,
        case when national.provinces_included < national.provinces_valid
             then 'sum of the ' || national.provinces_included || ' of ' || national.provinces_valid
                  || ' provinces with data this month, not yet a national figure'
        end as note
    from national
    left join national_ui
        on national_ui.month = national.month

    union all

    select
        'current:' || province_key,
        month,
        si_coverage_rate,
        voluntary_si_rate,
        hi_coverage_rate,
        round(unemployment_insurance_participants::numeric / nullif(labour_force, 0), 12),
        labour_force,
        population,
        case when constituents_with_data < constituent_provinces
             then constituents_with_data || ' of the ' || constituent_provinces
                  || ' provinces that merged into it have data this month'
        end
    from current_geography

    union all

    select
        'province:' || province_key,
        month,
        si_coverage_rate,
        voluntary_si_rate,
        hi_coverage_rate,
        round(unemployment_insurance_participants::numeric / nullif(labour_force, 0), 12),
        labour_force,
        population,
        null::text
    from provincial

),

target_keys as (

    select
        targets.*,
        target_province.province_key as target_province_key,
        target_province.province_name as target_province_name,
        target_province.valid_to as target_province_valid_to,
        target_province.successor_province_key,
        case
            when targets.scope = 'national' then 'national'
            when target_province.is_current then 'current:' || target_province.province_key
            else 'province:' || target_province.province_key
        end as actual_key
    from targets
    left join target_province
        on target_province.target_id = targets.target_id

),

measured as (

    select
        target_keys.target_id,
        actuals.month,
        case target_keys.metric
            when 'si_coverage_rate' then actuals.si_coverage_rate
            when 'voluntary_si_rate' then actuals.voluntary_si_rate
            when 'hi_coverage_rate' then actuals.hi_coverage_rate
            when 'ui_coverage_rate' then actuals.ui_coverage_rate
        end as actual_value,
        case when target_keys.metric = 'hi_coverage_rate'
             then actuals.population else actuals.labour_force end as denominator,
        actuals.note
    from target_keys
    inner join actuals
        on actuals.actual_key = target_keys.actual_key
       and actuals.month <= target_keys.deadline

),

-- months after an old province ceased to exist, up to the deadline and the data horizon
after_merger as (

    select
        target_keys.target_id,
        series.month::date as month
    from target_keys
    cross join data_horizon
    cross join lateral generate_series(
        (date_trunc('month', target_keys.target_province_valid_to) + interval '1 month')::date,
        least(date_trunc('month', target_keys.deadline)::date, data_horizon.last_month),
        interval '1 month'
    ) as series (month)
    where target_keys.target_province_valid_to is not null
      and target_keys.target_province_valid_to < target_keys.deadline

),

unmeasured as (

    -- targets with no month measured up to the deadline keep one row at the deadline
    select target_keys.target_id, date_trunc('month', target_keys.deadline)::date as month
    from target_keys
    where not exists (select 1 from measured where measured.target_id = target_keys.target_id)
      and not exists (select 1 from after_merger where after_merger.target_id = target_keys.target_id)

),

with_trend as (

    select
        measured.*,
        base.month as trend_base_month,
        base.actual_value as trend_base_value,
        {{ months_between('base.month', 'measured.month') }} as trend_months
    from measured
    left join lateral (
        select earlier.month, earlier.actual_value
        from measured as earlier
        where earlier.target_id = measured.target_id
          and earlier.actual_value is not null
          and earlier.month between (measured.month - interval '12 months')::date
                                and (measured.month - interval '3 months')::date
        order by earlier.month
        limit 1
    ) as base on measured.actual_value is not null

),

projected as (

    select
        with_trend.*,
        round(actual_value + (actual_value - trend_base_value) / nullif(trend_months, 0)
              * {{ months_between('with_trend.month', "date_trunc('month', target_keys.deadline)") }}, 12)
            as projected_value_at_deadline
    from with_trend
    inner join target_keys
        on target_keys.target_id = with_trend.target_id

),

last_projection as (

    select distinct on (target_id)
        target_id, month, actual_value, projected_value_at_deadline
    from projected
    where actual_value is not null
    order by target_id, month desc

),

all_rows as (

    select
        target_id, month, actual_value, denominator, trend_base_month, projected_value_at_deadline,
        note as measurement_note
    from projected

    union all

    select
        after_merger.target_id,
        after_merger.month,
        null::numeric,
        null::bigint,
        null::date,
        last_projection.projected_value_at_deadline,
        target_keys.target_province_name || ' (' || target_keys.scope || ') merged into province '
            || coalesce(target_keys.successor_province_key, '?') || ' on '
            || to_char(target_keys.target_province_valid_to + 1, 'YYYY-MM-DD')
            || ': from then on mandatory SI participants (monthly summaries) and receipts (no district code) '
            || 'are reported for the merged province only, so the rate on the former territory cannot be '
            || 'measured; the projection is the one of '
            || coalesce(to_char(last_projection.month, 'YYYY-MM'), 'the last measured month (none)')
    from after_merger
    inner join target_keys
        on target_keys.target_id = after_merger.target_id
    left join last_projection
        on last_projection.target_id = after_merger.target_id

    union all

    select
        unmeasured.target_id,
        unmeasured.month,
        null::numeric,
        null::bigint,
        null::date,
        null::numeric,
        'no data up to the deadline (the warehouse holds '
            || coalesce(to_char(data_horizon.first_month, 'YYYY-MM') || ' .. '
                        || to_char(data_horizon.last_month, 'YYYY-MM'), 'no months') || ')'
    from unmeasured
    cross join data_horizon

)

select
    all_rows.month::date as month,
    target_keys.target_id::text as target_id,
    target_keys.scope::text as scope,
    target_keys.target_province_key::text as target_province_key,
    target_keys.metric::text as metric,
    target_keys.target_value::numeric(18, 12) as target_value,
    target_keys.deadline::date as deadline,
    target_keys.source_document::text as source_document,
    target_keys.target_status::text as target_status,
    all_rows.actual_value::numeric(18, 12) as actual_value,
    (target_keys.target_value - all_rows.actual_value)::numeric(18, 12) as gap,
    ((target_keys.target_value - all_rows.actual_value) * 100)::numeric(18, 10) as gap_pp,
    all_rows.denominator::bigint as denominator,
    case when all_rows.actual_value is not null and all_rows.denominator is not null
         then ceil(greatest(target_keys.target_value - all_rows.actual_value, 0) * all_rows.denominator)
    end::bigint as participants_needed,
    all_rows.trend_base_month::date as trend_base_month,
    all_rows.projected_value_at_deadline::numeric(18, 12) as projected_value_at_deadline,
    (all_rows.projected_value_at_deadline >= target_keys.target_value)::boolean as on_track,
    all_rows.measurement_note::text as measurement_note
from all_rows
inner join target_keys
    on target_keys.target_id = all_rows.target_id
