{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['province_key', 'scheme', 'month'],
        on_schema_change='fail',
        indexes=[{'columns': ['built_at']}],
        pre_hook="{% if coverage_periods_rebuilt() %} delete from {{ this }} {% endif %}",
        post_hook="{% for part in coverage_periods_parts() %}
            delete from {{ ref(part).incorporate(limit=None) }} where superseded_at is not null;
        {% endfor %}"
    )
}}
-- Per province (code + validity), scheme and month: covered periods starting in the month minus
-- periods ending in it (period_end is exclusive). The running sum over months is the number of
-- active participants (int_active_participants__monthly); periods are disjoint per participant,
-- scheme and province, so nothing is exploded into months.
--
-- Method: one pass over the periods, grouped by what a delta needs (province, scheme, start and end
-- month: 19 thousand groups for a national year's 37 M periods), then each group adds its
-- count at its start month and takes it back at its end month. (Unpivoting every period into a start
-- and an end row first put 74 M rows through the aggregate, the periods written to a temporary file
-- between: 49-53 s against 9-12 s for a national year's full build.)
--
-- Incremental: a run adds, to the keys they touch, the periods int_coverage_periods appended since
-- the last build (max built_at; weight +1, or 0 when also superseded since) and takes away the older
-- periods it superseded since then (weight -1); then it deletes the superseded periods (post_hook).
-- A new day costs the periods of the participants it touched. When the periods were built afresh
-- since this model's last build (a part has no period older than it: a full refresh of a part, or
-- the first build after int_coverage_periods' table became the union of two parts), the run empties
-- this model and counts every current period (coverage_periods_rebuilt) rather than adding them again.

{%- set incremental = is_incremental() and not coverage_periods_rebuilt() %}
{%- set since = last_built_at() if incremental else "'-infinity'::timestamptz" %}

with

periods as (

    select
        province_key,
        province_code,
        scheme,
        period_start,
        period_end,
        case when superseded_at > {{ since }} then 0 else 1 end as weight
    from {{ ref('int_coverage_periods') }}
    {% if incremental %}
    where built_at > {{ since }}
    union all
    select province_key, province_code, scheme, period_start, period_end, -1 as weight
    from {{ ref('int_coverage_periods') }}
    where superseded_at > {{ since }}
      and built_at <= {{ since }}
    {% else %}
    where superseded_at is null
    {% endif %}

),

weighed as (

    select province_key, province_code, scheme, period_start, period_end, sum(weight) as weight
    from periods
    group by 1, 2, 3, 4, 5

),

changes as (

    select province_key, province_code, scheme, period_start as month, weight as delta
    from weighed
    union all
    select province_key, province_code, scheme, period_end as month, -weight as delta
    from weighed

),

summed as (

    select province_key, province_code, scheme, month, sum(delta) as delta
    from changes
    group by 1, 2, 3, 4

)

select
    summed.province_key::text as province_key,
    summed.province_code::text as province_code,
    summed.scheme::text as scheme,
    summed.month::date as month,
    {% if incremental %}
    (coalesce(current_rows.delta, 0) + summed.delta)::bigint as delta,
    {% else %}
    summed.delta::bigint as delta,
    {% endif %}
    now() as built_at
from summed
{% if incremental %}
left join {{ this }} as current_rows
    on current_rows.province_key = summed.province_key
   and current_rows.scheme = summed.scheme
   and current_rows.month = summed.month
{% endif %}
