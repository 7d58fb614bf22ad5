-- The May campaign month (Tháng vận động triển khai BHXH toàn dân, Decision 1676/QĐ-TTg):
-- new participants (receipts of type 'new', month of collected_on) in May against April and
-- against May a year earlier, per national / province / district x year x scheme, with the
-- campaign goal (50 new voluntary participants per district) and the stock changes the
-- provincial reports quote ("+871 voluntary participants on April").
--
-- Geography: a row's province is the one valid on 1 May of its year. Every count is moved to it
-- through int_provinces__lineage (code AND date), so a current province's May 2026 is compared
-- with the sum of its predecessors' May 2025 (old 30 Hải Dương + old 31 Hải Phòng -> 31). District
-- rows exist only while districts do (years up to 2025); a district is compared with the same
-- district code a year earlier.
--
-- Campaign goal: where campaign_targets has a per-district goal for the province and year
-- (Vĩnh Phúc and Kiên Giang 2020) that goal and its window apply; otherwise every district row of
-- scheme TN gets the default 50 over the calendar month of May, flagged in campaign_goal_status
-- (the articles' figure applied by analogy, not the province's own goal). A national goal
-- (10,000 in the 2022 launch) applies to the national row over its window.
--
-- The distinct counts come from int_campaign_month__new_participants (incremental: a day recounts
-- only the campaign years it touches); this model pivots them and joins the goals and the stock
-- from the monthly marts, all small: it never reads the receipts.

with

new_participants as (

    select * from {{ ref('int_campaign_month__new_participants') }}

),

provinces as (

    select * from {{ ref('dim_province') }}

),

campaign_targets as (

    select * from {{ ref('stg_reference__campaign_targets') }}

),

horizon as (

    select max(report_date) as data_through
    from {{ ref('int_receipts__counted') }}

),

goals as (

    -- campaign goals expressed as a count of new voluntary participants, with the province
    -- (code + date) their scope names at the window's start
    select
        goals.campaign_id,
        goals.scope,
        goals.year,
        goals.metric,
        goals.target_value,
        goals.window_start,
        goals.window_end,
        goals.campaign_status,
        goals.source_document,
        provinces.province_key
    from campaign_targets as goals
    left join provinces
        on provinces.province_code = goals.scope
       and goals.window_start between provinces.valid_from and coalesce(provinces.valid_to, date '9999-12-31')
    where goals.metric in ('new_voluntary_participants_per_district', 'new_voluntary_participants')

),

counted as (

    -- a row for every key with a new participant in any bucket (campaign windows included)
    select
        level,
        province_key,
        province_code,
        district_code,
        year,
        scheme,
        coalesce(sum(participants) filter (where bucket = 'may'), 0) as new_in_may,
        coalesce(sum(participants) filter (where bucket = 'april'), 0) as new_in_april,
        coalesce(sum(participants) filter (where bucket = 'may_prior_year'), 0) as new_in_may_prior_year
    from new_participants
    group by 1, 2, 3, 4, 5, 6

),

window_counts as (

    select
        province_key,
        district_code,
        year,
        bucket,
        participants as new_in_window
    from new_participants
    where bucket like 'window:%'
      and level in ('national', 'district')

),

rows_kept as (

    select counted.*
    from counted
    cross join horizon
    -- a year appears once the data reach its April (districts only while they exist: upstream)
    where make_date(counted.year, 4, 1) <= horizon.data_through

),

with_goal as (

    select
        rows_kept.*,
        coalesce(district_goal.campaign_id, national_goal.campaign_id) as campaign_id,
        case
            when rows_kept.scheme <> 'TN' then null
            when rows_kept.level = 'district' then coalesce(district_goal.target_value, 50)
            when rows_kept.level = 'national' then national_goal.target_value
        end as campaign_goal,
        case
            when rows_kept.scheme <> 'TN' then null
            when rows_kept.level = 'district' and district_goal.campaign_id is not null
                then district_goal.campaign_status
            when rows_kept.level = 'district'
                then 'default: 50 new voluntary participants per district in May, the goal of the 2020 '
                     || 'Vĩnh Phúc and Kiên Giang campaigns (campaign_targets) applied by analogy, not '
                     || 'this province''s own goal'
            when rows_kept.level = 'national' and national_goal.campaign_id is not null
                then national_goal.campaign_status
        end as campaign_goal_status,
        case
            when rows_kept.scheme <> 'TN' then null
            when rows_kept.level = 'district' then coalesce(district_goal.window_start, make_date(rows_kept.year, 5, 1))
            when rows_kept.level = 'national' then national_goal.window_start
        end as campaign_window_start,
        case
            when rows_kept.scheme <> 'TN' then null
            when rows_kept.level = 'district' then coalesce(district_goal.window_end, make_date(rows_kept.year, 5, 31))
            when rows_kept.level = 'national' then national_goal.window_end
        end as campaign_window_end
    from rows_kept
    left join goals as district_goal
        on rows_kept.level = 'district'
       and district_goal.metric = 'new_voluntary_participants_per_district'
       and district_goal.province_key = rows_kept.province_key
       and district_goal.year = rows_kept.year
    left join goals as national_goal
        on rows_kept.level = 'national'
       and national_goal.metric = 'new_voluntary_participants'
       and national_goal.scope = 'national'
       and national_goal.year = rows_kept.year

),

with_window as (

    select
        with_goal.*,
        case
            when with_goal.campaign_goal is null then null
            when with_goal.campaign_id is null then with_goal.new_in_may
            else coalesce(window_counts.new_in_window, 0)
        end as new_in_campaign_window
    from with_goal
    left join window_counts
        on window_counts.bucket = 'window:' || with_goal.campaign_id
       and window_counts.year = with_goal.year
       and window_counts.province_key is not distinct from
           (case when with_goal.level = 'national' then null else with_goal.province_key end)
       and window_counts.district_code is not distinct from with_goal.district_code

),

districts_reached as (

    select
        province_key,
        year,
        scheme,
        count(*) as districts_with_new_participants,
        count(*) filter (where new_in_campaign_window >= campaign_goal) as districts_reached_campaign_goal
    from with_window
    where level = 'district'
    group by 1, 2, 3

),

-- stock of active participants (receipts) and mandatory SI participants (summaries) in May,
-- April and May a year earlier, in the row's geography
stock as (

    select 'province:' || province_key as stock_key, month,
           voluntary_si_participants, hi_household_participants, mandatory_si_participants
    from {{ ref('fct_coverage_monthly') }}
    union all
    select 'current:' || province_key, month,
           voluntary_si_participants, hi_household_participants, mandatory_si_participants
    from {{ ref('fct_coverage_monthly_current_geography') }}
    union all
    select 'national', month,
           voluntary_si_participants, hi_household_participants, mandatory_si_participants
    from {{ ref('fct_coverage_monthly_national') }}

),

stock_keyed as (

    select
        with_window.*,
        case
            when with_window.level = 'national' then 'national'
            when provinces.is_current then 'current:' || with_window.province_key
            else 'province:' || with_window.province_key
        end as stock_key
    from with_window
    left join provinces
        on provinces.province_key = with_window.province_key

),

final as (

    select
        stock_keyed.*,
        districts_reached.districts_with_new_participants,
        districts_reached.districts_reached_campaign_goal,
        case stock_keyed.scheme
            when 'TN' then may.voluntary_si_participants else may.hi_household_participants end as active_in_may,
        case stock_keyed.scheme
            when 'TN' then april.voluntary_si_participants else april.hi_household_participants end as active_in_april,
        case stock_keyed.scheme
            when 'TN' then prior_may.voluntary_si_participants else prior_may.hi_household_participants end
            as active_in_may_prior_year,
        case when stock_keyed.scheme = 'TN' then may.mandatory_si_participants end as mandatory_si_in_may,
        case when stock_keyed.scheme = 'TN' then april.mandatory_si_participants end as mandatory_si_in_april,
        case when stock_keyed.scheme = 'TN' then prior_may.mandatory_si_participants end
            as mandatory_si_in_may_prior_year
    from stock_keyed
    left join districts_reached
        on stock_keyed.level = 'province'
       and districts_reached.province_key = stock_keyed.province_key
       and districts_reached.year = stock_keyed.year
       and districts_reached.scheme = stock_keyed.scheme
    left join stock as may
        on stock_keyed.level <> 'district'
       and may.stock_key = stock_keyed.stock_key and may.month = make_date(stock_keyed.year, 5, 1)
    left join stock as april
        on stock_keyed.level <> 'district'
       and april.stock_key = stock_keyed.stock_key and april.month = make_date(stock_keyed.year, 4, 1)
    left join stock as prior_may
        on stock_keyed.level <> 'district'
       and prior_may.stock_key = stock_keyed.stock_key and prior_may.month = make_date(stock_keyed.year - 1, 5, 1)

)

select
    level::text as level,
    province_key::text as province_key,
    province_code::text as province_code,
    district_code::text as district_code,
    year::integer as year,
    scheme::text as scheme,
    new_in_may::bigint as new_in_may,
    new_in_april::bigint as new_in_april,
    new_in_may_prior_year::bigint as new_in_may_prior_year,
    (new_in_may - new_in_april)::bigint as new_change_vs_april,
    (new_in_may - new_in_may_prior_year)::bigint as new_change_vs_may_prior_year,
    round(new_in_may::numeric / nullif(new_in_april, 0), 12)::numeric(18, 12) as new_ratio_vs_april,
    round(new_in_may::numeric / nullif(new_in_may_prior_year, 0), 12)::numeric(18, 12) as new_ratio_vs_may_prior_year,
    campaign_id::text as campaign_id,
    campaign_goal::bigint as campaign_goal,
    campaign_goal_status::text as campaign_goal_status,
    campaign_window_start::date as campaign_window_start,
    campaign_window_end::date as campaign_window_end,
    new_in_campaign_window::bigint as new_in_campaign_window,
    (new_in_campaign_window >= campaign_goal)::boolean as reached_campaign_goal,
    districts_with_new_participants::integer as districts_with_new_participants,
    districts_reached_campaign_goal::integer as districts_reached_campaign_goal,
    active_in_may::bigint as active_in_may,
    active_in_april::bigint as active_in_april,
    active_in_may_prior_year::bigint as active_in_may_prior_year,
    (active_in_may - active_in_april)::bigint as active_change_vs_april,
    (active_in_may - active_in_may_prior_year)::bigint as active_change_vs_may_prior_year,
    mandatory_si_in_may::bigint as mandatory_si_in_may,
    mandatory_si_in_april::bigint as mandatory_si_in_april,
    mandatory_si_in_may_prior_year::bigint as mandatory_si_in_may_prior_year,
    (mandatory_si_in_may - mandatory_si_in_april)::bigint as mandatory_si_change_vs_april,
    (mandatory_si_in_may - mandatory_si_in_may_prior_year)::bigint as mandatory_si_change_vs_may_prior_year
from final
