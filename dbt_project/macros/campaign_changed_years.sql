{#- Campaign years of int_campaign_month__new_participants to recount: those of the `new` receipts
    that started or stopped counting (int_receipts__versions stamps) since the model's last build,
    collected in April or May of a year (that year; May also counts for the next year's comparison)
    or inside a campaign goal's window (the goal's year). -#}
{% macro campaign_changed_years() -%}
    select distinct years.year
    from (select * from {{ ref('int_receipts__versions') }}) as changed
    cross join lateral (
        select extract(year from changed.collected_on)::int as year
        where extract(month from changed.collected_on) in (4, 5)
        union all
        select extract(year from changed.collected_on)::int + 1
        where extract(month from changed.collected_on) = 5
        union all
        select goals.year
        from (select * from {{ ref('stg_reference__campaign_targets') }}) as goals
        where changed.collected_on between goals.window_start and goals.window_end
    ) as years
    where changed.transaction_type = 'new'
      and changed.collected_on is not null
      and (changed.counted_from > {{ last_built_at() }}
           or changed.counted_until > {{ last_built_at() }})
{%- endmacro %}
