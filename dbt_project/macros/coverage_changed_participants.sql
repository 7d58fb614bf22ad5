{#- Participants (participant_key, scheme) of int_coverage_periods to recompute: those with a
    receipt that started or stopped counting since the model's last build (its max built_at). -#}
{% macro coverage_changed_participants() -%}
    select distinct participant_key, scheme
    from {{ ref('int_receipts__versions') }}
    where participant_key is not null
      and scheme is not null
      and (counted_from > {{ last_built_at() }}
           or counted_until > {{ last_built_at() }})
{%- endmacro %}
