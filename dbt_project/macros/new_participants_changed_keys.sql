{#- Keys of int_new_participants__monthly to recount: those of the `new` receipts that started or
    stopped counting since the model's last build (its max built_at). -#}
{% macro new_participants_changed_keys() -%}
    select distinct
        origin_province_key as province_key,
        file_province_code as province_code,
        district_code,
        date_trunc('month', collected_on)::date as month,
        scheme
    from {{ ref('int_receipts__versions') }}
    where transaction_type = 'new'
      and (counted_from > {{ last_built_at() }}
           or counted_until > {{ last_built_at() }})
{%- endmacro %}
