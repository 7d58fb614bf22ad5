{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['built_at']}, {'columns': ['province_code', 'report_date']}],
        pre_hook="{% if is_incremental() %}
            delete from {{ this }} as scored
            using ({{ anomaly_recomputed_days() }}) as recomputed
            where scored.province_code = recomputed.province_code
              and scored.report_date between recomputed.first_day and recomputed.last_day
        {% endif %}"
    )
}}
-- Collection anomalies: per province and scheme, each report day's receipt count and amount against
-- a trailing baseline that knows the seasons. Warnings, never rejections (fct_data_quality).
--
--   baseline  median of the same day type (Sunday / other day) over the 28 days before, Tết
--             season (10 days either side of Tết) left out; needs at least 4 such days
--   season    the prior year's ratio: mean of the same day type in the ±14 days around the same
--             date a year earlier / mean over the 28 days before that date (1 when the prior
--             year is not in the warehouse). This carries the May campaign and the December peak.
--   expected  baseline x season; flagged when observed is outside [0.33, 3] x expected.
--   Days in the Tết season are never flagged.
--
-- One row per scored day (province, scheme, measure; is_anomaly says whether it is flagged).
-- Incremental: a run recomputes only the report days whose receipts changed since its last build
-- and the days whose windows hold them (macro anomaly_recomputed_days: the next 28 days, the same
-- season a year later), reading from fct_daily_collections only the days those windows need; their
-- rows are deleted first (pre_hook). A new day costs its windows, not the history.

-- depends_on: {{ ref('int_receipts__versions') }}

with

{% if is_incremental() %}
recomputed as (

    {{ anomaly_recomputed_days() }}

),
{% endif %}

daily as (

    -- the counted receipts per day, from the incremental fct_daily_collections (summed over
    -- organisations): the baselines never rescan the receipts
    select
        province_key,
        province_code,
        report_date,
        scheme,
        sum(receipts)::numeric as receipts,
        sum(amount_vnd)::numeric as amount_vnd

    from (select * from {{ ref('fct_daily_collections') }}) as collections
    {% if is_incremental() %}
    -- the days the recomputed days' windows read: the 28 days before, the prior year's -28 .. +14
    where exists (
        select 1 from recomputed
        where recomputed.province_code = collections.province_code
          and (collections.report_date between recomputed.first_day - 30 and recomputed.last_day
               or collections.report_date
                  between (recomputed.first_day - interval '1 year' - interval '30 days')::date
                      and (recomputed.last_day - interval '1 year' + interval '16 days')::date)
    )
    {% endif %}
    group by 1, 2, 3, 4

),

typed as (

    select
        daily.*,
        extract(isodow from report_date) = 7 as is_sunday,
        exists (
            select 1 from {{ tet_dates() }}
            where daily.report_date between tet.tet_day - 10 and tet.tet_day + 10
        ) as in_tet_season

    from daily

),

measures as (

    select province_key, province_code, report_date, scheme, is_sunday, in_tet_season,
           'receipt_count' as measure, receipts as observed
    from typed
    union all
    select province_key, province_code, report_date, scheme, is_sunday, in_tet_season,
           'amount_vnd' as measure, amount_vnd as observed
    from typed

),

scored as (

    -- the baseline and the prior year's windows as window frames over each (province, scheme,
    -- measure, day type) series: one pass over the days, not a scan per day
    select
        windowed.*,
        (select percentile_cont(0.5) within group (order by x) from unnest(windowed.baseline) as x) as median_value,
        cardinality(windowed.baseline) as baseline_days,
        coalesce(windowed.around / nullif(windowed.before, 0), 1.0) as season_factor

    from (
        select
            measures.*,
            array_agg(observed) filter (where not in_tet_season) over recent as baseline,
            avg(observed) filter (where not in_tet_season) over year_around as around,
            avg(observed) filter (where not in_tet_season) over year_before as before
        from measures
        window
            series as (partition by province_key, scheme, measure, is_sunday order by report_date),
            recent as (series range between interval '28 days' preceding and interval '1 day' preceding),
            year_around as (series range between interval '1 year 14 days' preceding
                                            and interval '1 year -14 days' preceding),
            year_before as (series range between interval '1 year 28 days' preceding
                                            and interval '1 year 1 day' preceding)
    ) as windowed
    where not windowed.in_tet_season

),

flagged as (

    select
        scored.*,
        baseline_days >= 4
          and median_value > 0
          and (observed < 0.33 * median_value::numeric * season_factor
               or observed > 3 * median_value::numeric * season_factor) as is_anomaly
    from scored
    {% if is_incremental() %}
    where exists (
        select 1 from recomputed
        where recomputed.province_code = scored.province_code
          and scored.report_date between recomputed.first_day and recomputed.last_day
    )
    {% endif %}

)

select
    'anomaly:' || report_date::text as run_id,
    province_key,
    province_code,
    report_date,
    'anomaly.' || measure || '(' || scheme || ')' as check_name,
    is_anomaly,
    null::bigint as observed,
    case when is_anomaly then jsonb_build_object(
        'scheme', scheme,
        'observed', observed,
        'expected', round(median_value::numeric * season_factor, 0),
        'baseline_median', median_value,
        'baseline_days', baseline_days,
        'season_factor', round(season_factor, 3),
        'ratio', round(observed / nullif(median_value::numeric * season_factor, 0), 3)
    ) end as sample_values,
    now() as built_at

from flagged
