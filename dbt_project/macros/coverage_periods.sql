{#- The coverage periods of one part of the participants (int_coverage_periods__part0 and __part1;
    int_coverage_periods is their union): the model's config and query, with `in_part` the
    predicate on participant_key that picks the part (coverage_periods_part). The parts run at once,
    one per core: a parallel plan's workers would only compete with the other part (no parallel
    workers: 10.7 s against 11.7 s for the two parts of two national months). -#}
{% macro coverage_periods(in_part) %}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[
            {'columns': ['built_at']},
            {'columns': ['superseded_at']},
        ],
        pre_hook=["{% if is_incremental() %}
            update {{ this }} as periods
            set superseded_at = now()
            from ({{ coverage_changed_participants() }}) as changed
            where periods.participant_key = changed.participant_key
              and periods.scheme = changed.scheme
              and periods.superseded_at is null
        {% endif %}",
            "set local max_parallel_workers_per_gather = 0"],
        post_hook="{{ unique_current_key(['participant_key', 'scheme', 'province_key', 'period_start'],
                                         'superseded_at is null') }}"
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
-- Method: no month explosion, and one sort of the receipts. Each receipt is first cut at the
-- province validity boundaries (int_provinces__lineage) into pieces, one per province standing for
-- its origin; the pieces are numbered per participant and scheme in payment order, and all later
-- steps keep that (participant_key, scheme) order, so their sorts are per participant and small
-- (the plan's incremental sorts). Keys sort in the "C" collation (byte order, compared fastest).
--   * A participant whose single receipt is a payment (most of them) has its pieces as periods.
--   * A participant with several receipts, all payments, all in one province (most of the others)
--     has the union of its pieces as periods: sorted by start, merged while they overlap or abut.
--   * Otherwise (a refund, or payments in more than one province) the pieces' start/end months cut
--     the participant's timeline into elementary segments; a segment is covered when a payment
--     covers it and no refund does, in the latest payment's province; consecutive covered segments
--     in the same province are merged into islands (gaps and islands).
-- Cost grows with receipts, not with months covered.
--
-- Unique: (participant_key, scheme, province_key, period_start) over the current periods
-- (superseded_at is null), an index (macros/unique_current_key.sql) that also serves the pre_hook's
-- lookup of a participant's current periods.
--
-- Incremental: a run recomputes only the participants (participant_key, scheme) with a receipt that
-- started or stopped counting (int_receipts__versions) since the last build (max built_at): their
-- current periods are stamped superseded_at (pre_hook) and their periods computed afresh from all
-- their counted receipts are appended. int_coverage_deltas reads both stamps and then deletes the
-- superseded rows; current periods are the rows with superseded_at null.

with

receipts as (

    -- the counted receipts: int_receipts__counted's filter, on int_receipts__versions itself. Not
    -- behind int_receipts__counted and its test, the parts come a level earlier in dbt's graph than
    -- fct_daily_collections and the campaign model; dbt starts the earliest level first (then by
    -- name), so both parts start at once, first (behind those two, part 1 waited 55 s for a thread
    -- on a national year).
    -- paid_until: the first month after the months the receipt pays for or takes back
    select *, {{ add_months('period_start', 'abs(months_paid)') }} as paid_until
    from {{ ref('int_receipts__versions') }}
    where counted_until is null
      and participant_key is not null
      and {{ in_part }}
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

pieces as (

    -- each receipt cut at the province validity boundaries: a piece per province standing for the
    -- receipt's origin over part of its months
    select
        receipts.participant_key collate "C" as participant_key,
        receipts.scheme collate "C" as scheme,
        receipts.months_paid > 0 as is_payment,
        receipts.collected_on,
        receipts.report_date,
        receipts.file_id,
        receipts.line_no,
        lineage.target_province_key as province_key,
        lineage.target_province_code as province_code,
        greatest(receipts.period_start, lineage.target_valid_from) as start_month,
        least(receipts.paid_until, lineage.target_valid_to + 1) as end_month

    from receipts
    inner join lineage
        on lineage.origin_province_key = receipts.origin_province_key
       and lineage.target_valid_from < receipts.paid_until
       and lineage.target_valid_to >= receipts.period_start

),

events as (

    -- pieces in payment order per participant; single_receipt: the participant has one receipt (its
    -- first and last pieces in that order are of the same receipt). One window, over the whole
    -- partition: its aggregates are computed once per participant, in the same pass as the ranks
    -- (two windows, one for the order and one for the partition, took 18 s more on a national year)
    select
        participant_key,
        scheme,
        is_payment,
        province_key,
        province_code,
        start_month,
        end_month,
        dense_rank() over participant as event_seq,
        first_value(file_id) over participant = last_value(file_id) over participant
            and first_value(line_no) over participant = last_value(line_no) over participant as single_receipt,
        bool_and(is_payment) over participant
            and min(province_key) over participant = max(province_key) over participant as payments_in_one_province

    from pieces
    window participant as (
        partition by participant_key, scheme
        order by collected_on, report_date, file_id, line_no
        rows between unbounded preceding and unbounded following
    )

),

single_payments as (

    -- a participant's only receipt, a payment: its pieces are its periods
    select participant_key, scheme, province_key, province_code, start_month as period_start, end_month as period_end
    from events
    where single_receipt and is_payment

),

reaches as (

    -- several receipts, all payments, in one province (most participants with several): their
    -- periods are the union of their pieces. In start order, a piece starts an island when it begins
    -- after every earlier piece has ended (reached: the latest end before it).
    select
        participant_key,
        scheme,
        province_key,
        province_code,
        start_month,
        end_month,
        max(end_month) over (
            partition by participant_key, scheme
            order by start_month, end_month
            rows between unbounded preceding and 1 preceding
        ) as reached
    from events
    where not single_receipt and payments_in_one_province

),

payment_islands as (

    select
        *,
        sum(case when reached is null or start_month > reached then 1 else 0 end) over (
            partition by participant_key, scheme
            order by start_month, end_month
            rows between unbounded preceding and current row
        ) as island_no
    from reaches

),

merged_payments as (

    select
        participant_key,
        scheme,
        province_key,
        province_code,
        min(start_month) as period_start,
        max(end_month) as period_end
    from payment_islands
    group by participant_key, scheme, province_key, province_code, island_no

),

complex_events as (

    -- the rest: a refund, or payments in more than one province
    select * from events
    where not single_receipt and not payments_in_one_province

),

boundaries as (

    select complex_events.participant_key, complex_events.scheme, ends.boundary
    from complex_events
    cross join lateral (values (complex_events.start_month), (complex_events.end_month)) as ends (boundary)

),

segments as (

    -- elementary segments between consecutive distinct boundaries (a repeated boundary gives an empty one)
    select
        participant_key,
        scheme,
        boundary as segment_start,
        lead(boundary) over (partition by participant_key, scheme order by boundary) as segment_end
    from boundaries

),

decided_segments as (

    -- a refunded segment is not covered; otherwise the latest payment covering it gives its province
    select
        segments.participant_key,
        segments.scheme,
        segments.segment_start,
        segments.segment_end,
        bool_or(not events.is_payment) as is_refunded,
        (array_agg(events.province_key order by events.event_seq desc)
            filter (where events.is_payment))[1] as province_key,
        (array_agg(events.province_code order by events.event_seq desc)
            filter (where events.is_payment))[1] as province_code

    from segments
    inner join complex_events as events
        on events.participant_key = segments.participant_key
       and events.scheme = segments.scheme
       and events.start_month <= segments.segment_start
       and events.end_month >= segments.segment_end
    where segments.segment_end > segments.segment_start
    group by segments.participant_key, segments.scheme, segments.segment_start, segments.segment_end

),

flagged as (

    -- covered segments are disjoint in time per participant: an island continues while the next
    -- segment abuts the previous one in the same province
    select
        *,
        case
            when lag(segment_end) over timeline = segment_start
             and lag(province_key) over timeline = province_key then 0
            else 1
        end as starts_island
    from decided_segments
    where not is_refunded
    window timeline as (partition by participant_key, scheme order by segment_start)

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

),

periods as (

    select * from single_payments
    union all
    select * from merged_payments
    union all
    select * from islands

)

select
    participant_key::text as participant_key,
    scheme::text as scheme,
    province_key,
    province_code,
    period_start,
    period_end,
    {{ months_between('period_start', 'period_end') }} as months_covered,
    now() as built_at,
    null::timestamptz as superseded_at
from periods
{% endmacro %}

{#- Participants are split into two parts by a hash of participant_key (all schemes of a participant
    in one part): each part is its own model, so two of dbt's threads compute them at once. The
    windows that order a participant's receipts run in one process per query (PostgreSQL plans no
    parallel window): one query took 16.1-17.3 s on two months of national receipts (its parallel
    workers hardly help: 16.8 s without), the two parts at once 10.7 s; on the national year, 312 s
    for the one model against 177 s and 186 s for the parts, mostly at once. Should the hash ever
    send a participant to the other part (another PostgreSQL's hashtext), nothing breaks: each
    part's pre-hook supersedes the participant's current periods in its own table, and the new
    ones are appended to the new part. Written as an inequality (the bit is not the other part's):
    PostgreSQL estimates that a condition on an expression keeps almost every row, as if there were
    none, where it estimates an equality at 0.5% of them; with the equality the join of a day's
    changed participants to their segments became a nested loop (4.4 s against 0.19 s for part 0
    after a year of 5% of the national receipts) and a part's full build took 8.4 s against 7.4 s. -#}
{#- The models of the parts, in order: what int_coverage_periods unions and int_coverage_deltas cleans. -#}
{% macro coverage_periods_parts() -%}
    {{- return(['int_coverage_periods__part0', 'int_coverage_periods__part1']) -}}
{%- endmacro %}

{% macro coverage_periods_part(part) -%}
    (hashtext(participant_key) & 1) <> {{ 1 - part }}
{%- endmacro %}

{#- In int_coverage_deltas' incremental run: true when a part of the coverage periods has no period
    older than that model's last build, i.e. it was built afresh since (a full refresh of a part, or
    the first build after int_coverage_periods' table became the view over the parts): its rows are
    then all new to the deltas, which must be counted again from every current period (always
    correct; a part that is still empty only makes a small warehouse's deltas recounted). An index
    probe (built_at) per part. -#}
{% macro coverage_periods_rebuilt() -%}
    {%- if execute and is_incremental() and model.resource_type != 'unit_test' -%}
        {%- set probes = [] -%}
        {%- for part in coverage_periods_parts() -%}
            {%- do probes.append("not exists (select from " ~ ref(part) ~ " where built_at <= " ~ last_built_at() ~ ")") -%}
        {%- endfor -%}
        {%- set result = run_query("select " ~ probes | join(" or ")) -%}
        {{- return(result.columns[0].values()[0]) -}}
    {%- endif -%}
    {{- return(false) -}}
{%- endmacro %}
