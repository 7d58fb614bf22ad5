{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['built_at']}, {'columns': ['year']}],
        pre_hook="{% if is_incremental() %}
            delete from {{ this }}
            where year in (select year from ({{ campaign_changed_years() }}) as changed)
        {% endif %}"
    )
}}
-- New participants (distinct participants with a `new` receipt) of the May campaign per national /
-- province / district x campaign year x scheme and bucket: May, April, May a year earlier, and each
-- campaign goal's window (window:<campaign_id>, TN only), in the geography valid on 1 May of the
-- year (int_provinces__lineage, code AND date). fct_campaign_month pivots it.
--
-- Incremental: a run recounts only the years whose April / May / prior May / goal windows hold a
-- `new` receipt that started or stopped counting since its last build (macro
-- campaign_changed_years), reading only those months' receipts (index on collected_on); the rows
-- of those years are deleted first (pre_hook). A day outside April, May and the goal windows costs
-- nothing here.

-- depends_on: {{ ref('int_receipts__versions') }}

with

{% if is_incremental() %}
changed_years as (

    {{ campaign_changed_years() }}

),
{% endif %}

lineage as (

    select * from {{ ref('int_provinces__lineage') }}

),

goals as (

    select campaign_id, year, window_start, window_end
    from {{ ref('stg_reference__campaign_targets') }}
    where metric in ('new_voluntary_participants_per_district', 'new_voluntary_participants')
    {% if is_incremental() %}
      and year in (select year from changed_years)
    {% endif %}

),

{% if is_incremental() %}
-- the collection days the changed years read
needed_days as (

    select make_date(year, 4, 1) as first_day, make_date(year, 5, 31) as last_day from changed_years
    union
    select make_date(year - 1, 5, 1), make_date(year - 1, 5, 31) from changed_years
    union
    select window_start, window_end from goals

),
{% endif %}

new_receipts as (

    select
        receipts.participant_key,
        receipts.scheme,
        receipts.origin_province_key,
        nullif(receipts.district_code, '') as district_code,
        receipts.collected_on,
        date_trunc('month', receipts.collected_on)::date as month
    from (select * from {{ ref('int_receipts__counted') }}) as receipts
    {% if is_incremental() %}
    inner join (select distinct first_day, last_day from needed_days) as needed
        on receipts.collected_on between needed.first_day and needed.last_day
    {% endif %}
    where receipts.transaction_type = 'new'
      and receipts.origin_province_key is not null
      and receipts.participant_key is not null
      and receipts.collected_on is not null

),

-- each receipt counted for the row years it belongs to: May / April of year Y, May of Y - 1
buckets as (

    select *, extract(year from month)::int as row_year, 'may' as bucket
    from new_receipts where extract(month from month) = 5
    union all
    select *, extract(year from month)::int, 'april'
    from new_receipts where extract(month from month) = 4
    union all
    select *, extract(year from month)::int + 1, 'may_prior_year'
    from new_receipts where extract(month from month) = 5

),

-- receipts inside a campaign goal's window (TN only)
windowed as (

    select
        new_receipts.*,
        goals.year as row_year,
        'window:' || goals.campaign_id as bucket
    from new_receipts
    inner join goals
        on new_receipts.collected_on between goals.window_start and goals.window_end
    where new_receipts.scheme = 'TN'

),

attributed as (

    select
        lineage.target_province_key as province_key,
        lineage.target_province_code as province_code,
        -- districts were abolished on 2025-07-01: no district rows after that
        case when make_date(all_buckets.row_year, 5, 1) < date '2025-07-01'
             then all_buckets.district_code end as district_code,
        all_buckets.row_year as year,
        all_buckets.scheme,
        all_buckets.bucket,
        all_buckets.participant_key
    from (
        select participant_key, scheme, origin_province_key, district_code, row_year, bucket from buckets
        union all
        select participant_key, scheme, origin_province_key, district_code, row_year, bucket from windowed
    ) as all_buckets
    inner join lineage
        on lineage.origin_province_key = all_buckets.origin_province_key
       and make_date(all_buckets.row_year, 5, 1) between lineage.target_valid_from and lineage.target_valid_to
    {% if is_incremental() %}
    where all_buckets.row_year in (select year from changed_years)
    {% endif %}

),

counted as (

    select
        case
            when grouping(province_key) = 1 then 'national'
            when grouping(district_code) = 1 then 'province'
            else 'district'
        end as level,
        province_key,
        province_code,
        district_code,
        year,
        scheme,
        bucket,
        count(distinct participant_key) as participants
    from attributed
    group by grouping sets (
        (year, scheme, bucket),
        (province_key, province_code, year, scheme, bucket),
        (province_key, province_code, district_code, year, scheme, bucket)
    )

)

select
    level::text as level,
    province_key::text as province_key,
    province_code::text as province_code,
    district_code::text as district_code,
    year::integer as year,
    scheme::text as scheme,
    bucket::text as bucket,
    participants::bigint as participants,
    now() as built_at
from counted
-- districts only while they exist
where not (level = 'district' and district_code is null)
