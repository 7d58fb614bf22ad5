{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[
            {'columns': ['participant_key', 'scheme']},
            {'columns': ['built_at']},
            {'columns': ['superseded_at']},
        ],
        pre_hook="{% if is_incremental() %}
            update {{ this }} as periods
            set superseded_at = now()
            from ({{ coverage_changed_participants() }}) as changed
            where periods.participant_key = changed.participant_key
              and periods.scheme = changed.scheme
              and periods.superseded_at is null
        {% endif %}"
    )
}}
-- Covered periods per participant, scheme and province, as merged month intervals
-- [period_start, period_end) (period_end exclusive, first days of months).
--
-- Rules:
--   * a receipt with months_paid = n > 0 covers months period_start .. period_start + n - 1;
--   * a refund (months_paid = -k) takes back months period_start .. period_start + k - 1;
--   * a refunded month stays taken back: it is not covered even when a payment dated later covers
--     it (the generator's ground-truth rule "covered months minus refunded months"; a refund and
--     the renewal it cancels can carry collected_on dates in either order within a month);
--   * the month is attributed to the province of the latest payment covering it
--     (collected_on, report_date, file_id, line_no): its file's code on its
--     report date, moved through the 2025-07-01 merger by int_provinces__lineage: a receipt
--     from old 30 (Hải Dương) covering 2025-07 onwards counts those months under 31 (Hải Phòng).
--
-- Method: no month explosion. Per participant and scheme the receipts' start/end months (and the
-- province validity boundaries) cut the timeline into elementary segments; a segment is covered
-- when a payment covers it and no refund does, in the latest payment's province; covered segments are merged back into islands (gaps and
-- islands). Cost grows with receipts, not with months covered.
--
-- Incremental: a run recomputes only the participants (participant_key, scheme) with a receipt that
-- started or stopped counting (int_receipts__versions) since the last build (max built_at): their
-- current periods are stamped superseded_at (pre_hook) and their periods computed afresh from all
-- their counted receipts are appended. int_coverage_deltas reads both stamps and then deletes the
-- superseded rows; current periods are the rows with superseded_at null.

-- depends_on: {{ ref('int_receipts__versions') }}

with

receipts as (

    select * from {{ ref('int_receipts__counted') }}
    where participant_key is not null
      and scheme is not null
      and period_start is not null
      and coalesce(months_paid, 0) <> 0
      {% if is_incremental() %}
      and (participant_key, scheme) in (select participant_key, scheme from ({{ coverage_changed_participants() }}) as changed)
      {% endif %}

),

lineage as (

    select * from {{ ref('int_provinces__lineage') }}

),

events as (

    select
        participant_key,
        scheme,
        months_paid > 0 as is_payment,
        origin_province_key,
        period_start as start_month,
        {{ add_months('period_start', 'abs(months_paid)') }} as end_month,
        row_number() over (
            partition by participant_key, scheme
            order by collected_on, report_date, file_id, line_no
        ) as event_seq

    from receipts

),

province_boundaries as (

    select distinct target_valid_from as boundary from lineage
    union
    select distinct (target_valid_to + 1) as boundary from lineage
    where target_valid_to < date '9999-12-31'

),

participant_span as (

    select participant_key, scheme, min(start_month) as span_start, max(end_month) as span_end
    from events
    group by 1, 2

),

boundaries as (

    select participant_key, scheme, start_month as boundary from events
    union
    select participant_key, scheme, end_month from events
    union
    select span.participant_key, span.scheme, pb.boundary
    from participant_span as span
    inner join province_boundaries as pb
        on pb.boundary > span.span_start and pb.boundary < span.span_end

),

segments as (

    select
        participant_key,
        scheme,
        boundary as segment_start,
        lead(boundary) over (partition by participant_key, scheme order by boundary) as segment_end
    from boundaries

),

segment_events as (

    select
        segments.participant_key,
        segments.scheme,
        segments.segment_start,
        segments.segment_end,
        events.is_payment,
        events.origin_province_key,
        events.event_seq

    from segments
    inner join events
        on events.participant_key = segments.participant_key
       and events.scheme = segments.scheme
       and events.start_month <= segments.segment_start
       and events.end_month >= segments.segment_end
    where segments.segment_end is not null

),

refunded as (

    select distinct participant_key, scheme, segment_start
    from segment_events
    where not is_payment

),

deciding_event as (

    -- the latest payment covering the segment gives its province; a refunded segment is not covered
    select distinct on (segment_events.participant_key, segment_events.scheme, segment_events.segment_start)
        segment_events.participant_key,
        segment_events.scheme,
        segment_events.segment_start,
        segment_events.segment_end,
        segment_events.is_payment,
        segment_events.origin_province_key

    from segment_events
    where segment_events.is_payment
      and not exists (
          select 1 from refunded
          where refunded.participant_key = segment_events.participant_key
            and refunded.scheme = segment_events.scheme
            and refunded.segment_start = segment_events.segment_start
      )
    order by segment_events.participant_key, segment_events.scheme, segment_events.segment_start,
             segment_events.event_seq desc

),

covered as (

    select
        deciding_event.participant_key,
        deciding_event.scheme,
        lineage.target_province_key as province_key,
        lineage.target_province_code as province_code,
        deciding_event.segment_start,
        deciding_event.segment_end

    from deciding_event
    inner join lineage
        on lineage.origin_province_key = deciding_event.origin_province_key
       and deciding_event.segment_start between lineage.target_valid_from and lineage.target_valid_to
    where deciding_event.is_payment

),

flagged as (

    select
        *,
        case
            when lag(segment_end) over island_window = segment_start then 0 else 1
        end as starts_island
    from covered
    window island_window as (partition by participant_key, scheme, province_key order by segment_start)

),

numbered as (

    select
        *,
        sum(starts_island) over (
            partition by participant_key, scheme, province_key
            order by segment_start
            rows between unbounded preceding and current row
        ) as island_no
    from flagged

),

islands as (

    select
        participant_key,
        scheme,
        province_key,
        province_code,
        min(segment_start) as period_start,
        max(segment_end) as period_end

    from numbered
    group by participant_key, scheme, province_key, province_code, island_no

)

select
    participant_key,
    scheme,
    province_key,
    province_code,
    period_start,
    period_end,
    {{ months_between('period_start', 'period_end') }} as months_covered,
    now() as built_at,
    null::timestamptz as superseded_at
from islands
