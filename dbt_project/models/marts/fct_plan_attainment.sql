-- Annual plans for new participants (chỉ tiêu kế hoạch) against new participants so far in the
-- year (receipts of type 'new', month of collected_on). The plan's province code means the province
-- valid on 1 January of the plan year; a plan without a district is province-wide (all districts).
-- new_participants_ytd sums the monthly distinct counts of the year up to the latest month with data.

with

plans as (

    select * from {{ ref('stg_reference__annual_plans') }}
    where metric = 'new_participants'

),

provinces as (

    select * from {{ ref('dim_province') }}

),

new_monthly as (

    select * from {{ ref('int_new_participants__monthly') }}

),

plan_provinces as (

    select plans.*, provinces.province_key
    from plans
    left join provinces
        on provinces.province_code = plans.province_code
       and make_date(plans.year, 1, 1) between provinces.valid_from
                                           and coalesce(provinces.valid_to, date '9999-12-31')

),

achieved as (

    select
        plan_provinces.province_key,
        plan_provinces.province_code,
        plan_provinces.district_code,
        plan_provinces.district_name,
        plan_provinces.year,
        plan_provinces.scheme,
        plan_provinces.plan_value,
        plan_provinces.plan_status,
        coalesce(sum(new_monthly.new_participants), 0) as new_participants_ytd,
        coalesce(sum(new_monthly.new_participants)
                 filter (where new_monthly.month <= make_date(plan_provinces.year, 6, 1)), 0) as new_participants_by_30_june,
        max(new_monthly.month) as latest_month
    from plan_provinces
    left join new_monthly
        on new_monthly.province_key = plan_provinces.province_key
       and new_monthly.scheme = plan_provinces.scheme
       and extract(year from new_monthly.month) = plan_provinces.year
       and (plan_provinces.district_code is null or new_monthly.district_code = plan_provinces.district_code)
    group by 1, 2, 3, 4, 5, 6, 7, 8

)

select
    province_key::text as province_key,
    province_code::text as province_code,
    district_code::text as district_code,
    district_name::text as district_name,
    year::integer as year,
    scheme::text as scheme,
    plan_value::bigint as annual_plan,
    plan_status::text as plan_status,
    new_participants_ytd::bigint as new_participants_ytd,
    round(new_participants_ytd::numeric / nullif(plan_value, 0), 12)::numeric(18, 12) as attainment_rate,
    new_participants_by_30_june::bigint as new_participants_by_30_june,
    (new_participants_by_30_june >= 0.5 * plan_value)::boolean as half_year_reached,
    latest_month::date as latest_month_with_new_participants
from achieved
