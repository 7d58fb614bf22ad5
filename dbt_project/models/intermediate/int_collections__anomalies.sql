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

with

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

    from {{ ref('fct_daily_collections') }}
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

    select
        m.*,
        base.median_value,
        base.days as baseline_days,
        coalesce(prior.around / nullif(prior.before, 0), 1.0) as season_factor

    from measures m
    cross join lateral (
        select
            percentile_cont(0.5) within group (order by b.observed) as median_value,
            count(*) as days
        from measures b
        where b.province_key = m.province_key and b.scheme = m.scheme and b.measure = m.measure
          and b.is_sunday = m.is_sunday and not b.in_tet_season
          and b.report_date between m.report_date - 28 and m.report_date - 1
    ) base
    cross join lateral (
        select
            avg(p.observed) filter (
                where p.report_date between (m.report_date - interval '1 year')::date - 14
                                        and (m.report_date - interval '1 year')::date + 14) as around,
            avg(p.observed) filter (
                where p.report_date between (m.report_date - interval '1 year')::date - 28
                                        and (m.report_date - interval '1 year')::date - 1) as before
        from measures p
        where p.province_key = m.province_key and p.scheme = m.scheme and p.measure = m.measure
          and p.is_sunday = m.is_sunday and not p.in_tet_season
          and p.report_date between (m.report_date - interval '1 year')::date - 28
                                and (m.report_date - interval '1 year')::date + 14
    ) prior
    where not m.in_tet_season

)

select
    'anomaly:' || report_date::text as run_id,
    province_code,
    report_date,
    'anomaly.' || measure || '(' || scheme || ')' as check_name,
    null::bigint as observed,
    jsonb_build_object(
        'scheme', scheme,
        'observed', observed,
        'expected', round(median_value::numeric * season_factor, 0),
        'baseline_median', median_value,
        'baseline_days', baseline_days,
        'season_factor', round(season_factor, 3),
        'ratio', round(observed / nullif(median_value::numeric * season_factor, 0), 3)
    ) as sample_values,
    now() as checked_at

from scored
where baseline_days >= 4
  and median_value > 0
  and (observed < 0.33 * median_value::numeric * season_factor
       or observed > 3 * median_value::numeric * season_factor)
