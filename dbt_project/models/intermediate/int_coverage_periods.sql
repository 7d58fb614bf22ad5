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
-- Method: no month explosion. Per participant and scheme the receipts' start/end months cut the
-- timeline into elementary segments; a segment is covered when a payment covers it and no refund
-- does (one distinct on per segment: a covering refund first, else the latest payment); its
-- latest payment's province stands for it, cut where that province's lineage targets change (the
-- 2025-07-01 merger); adjacent covered segments of one province are merged back into islands (gaps
-- and islands). Cost grows with receipts, not with months covered. The keys are compared in byte
-- order (collate "C") inside: only their equality matters, and a locale-aware comparison per row
-- made the sorts several times slower.
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

lineage as materialized (

    -- once (a few hundred rows), not again for every covered segment it is joined to
    select * from {{ ref('int_provinces__lineage') }}

),

events as (

    -- the keys in byte order ("C"): every sort and window below partitions on them, and only their
    -- equality matters (the same in every deterministic collation); memcmp and abbreviated keys
    -- instead of a locale-aware comparison per row. The output takes the default collation back.
    select
        participant_key collate "C" as participant_key,
        scheme collate "C" as scheme,
        months_paid > 0 as is_payment,
        origin_province_key,
        period_start as start_month,
        {{ add_months('period_start', 'abs(months_paid)') }} as end_month,
        row_number() over (
            partition by participant_key collate "C", scheme collate "C"
            order by collected_on, report_date, file_id, line_no
        ) as event_seq

    from receipts

),

boundaries as (

    select participant_key, scheme, start_month as boundary from events
    union
    select participant_key, scheme, end_month from events

),

segments as (

    select
        participant_key,
        scheme,
        boundary as segment_start,
        lead(boundary) over (partition by participant_key, scheme order by boundary) as segment_end
    from boundaries

),

deciding_event as (

    -- per segment, the events covering it, a refund first when there is one (the segment is then
    -- not covered), else the latest payment, which gives the province
    select distinct on (segments.participant_key, segments.scheme, segments.segment_start)
        segments.participant_key,
        segments.scheme,
        segments.segment_start,
        segments.segment_end,
        events.is_payment,
        events.origin_province_key

    from segments
    inner join events
        on events.participant_key = segments.participant_key
       and events.scheme = segments.scheme
       and events.start_month <= segments.segment_start
       and events.end_month >= segments.segment_end
    where segments.segment_end is not null
    order by segments.participant_key, segments.scheme, segments.segment_start,
             events.is_payment, events.event_seq desc

),

covered as (

    -- the part of a covered segment in each province its latest payment's province stands for (an
    -- origin's lineage targets do not overlap in time; a month outside all of them is not covered)

    select
        deciding_event.participant_key,
        deciding_event.scheme,
        lineage.target_province_key as province_key,
        lineage.target_province_code as province_code,
        greatest(deciding_event.segment_start, lineage.target_valid_from) as segment_start,
        least(deciding_event.segment_end, lineage.target_valid_to + 1) as segment_end

    from deciding_event
    inner join lineage
        on lineage.origin_province_key = deciding_event.origin_province_key
       and lineage.target_valid_from < deciding_event.segment_end
       and lineage.target_valid_to >= deciding_event.segment_start
    where deciding_event.is_payment

),

flagged as (

    -- a covered segment starts an island unless the previous one ends where it starts, in the same
    -- province (segments do not overlap: nothing lies between two adjacent ones)
    select
        *,
        case
            when lag(segment_end) over island_window = segment_start
             and lag(province_key) over island_window = province_key then 0
            else 1
        end as starts_island
    from covered
    window island_window as (partition by participant_key, scheme order by segment_start)

),

numbered as (

    select
        *,
        sum(starts_island) over (
            partition by participant_key, scheme
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
    group by participant_key, scheme, island_no, province_key, province_code

)

select
    participant_key collate "default" as participant_key,
    scheme collate "default" as scheme,
    province_key,
    province_code,
    period_start,
    period_end,
    {{ months_between('period_start', 'period_end') }} as months_covered,
    now() as built_at,
    null::timestamptz as superseded_at
from islands
