-- Active participants per province (code + validity), scheme and month: distinct participants with
-- a covered period containing the month. Coverage periods are disjoint per participant, scheme and
-- province, so the running sum over months of int_coverage_deltas (+1 at each period start, -1 at
-- each period end) counts distinct participants without exploding periods into months. Months run
-- up to the data horizon (the month of the latest report date); prepaid months beyond it are not
-- reported yet. Reads only the small deltas table: its cost does not grow with receipts.

with

deltas as (

    select * from {{ ref('int_coverage_deltas') }}

),

horizon as (

    select date_trunc('month', max(report_date))::date as horizon_month
    from {{ ref('int_receipts__counted') }}

),

first_months as (

    select province_key, province_code, scheme, min(month) as first_month
    from deltas
    group by 1, 2, 3

),

spine as (

    select
        first_months.province_key,
        first_months.province_code,
        first_months.scheme,
        series.month::date as month
    from first_months
    cross join horizon
    cross join lateral generate_series(
        first_months.first_month, horizon.horizon_month, interval '1 month'
    ) as series (month)

),

running as (

    select
        spine.province_key,
        spine.province_code,
        spine.scheme,
        spine.month,
        sum(coalesce(deltas.delta, 0)) over (
            partition by spine.province_key, spine.scheme
            order by spine.month
            rows between unbounded preceding and current row
        ) as active_participants
    from spine
    left join deltas
        on deltas.province_key = spine.province_key
       and deltas.scheme = spine.scheme
       and deltas.month = spine.month

)

select
    province_key,
    province_code,
    scheme,
    month,
    active_participants::bigint as active_participants
from running
where active_participants > 0
