{#- The FROM clause of an incremental model's read of `model` (aliased `alias`): in an incremental
    build only the rows of the keys in the CTE `keys` (`on`: pairs of the model's column and the key's),
    each key looked up through the table's own key (a lateral subquery with offset 0, a fence that
    keeps the per-key lookup: a hash join would scan every row of the history); in a full build every
    row. -#}
{% macro rows_of_changed_keys(model, alias, keys, on) -%}
    {% if is_incremental() -%}
    from {{ keys }}
    cross join lateral (
        select * from (select * from {{ ref(model) }}) as {{ alias }}
        where {% for column, key in on %}{{ alias }}.{{ column }} = {{ keys }}.{{ key }}{% if not loop.last %}
          and {% endif %}{% endfor %}
        offset 0
    ) as {{ alias }}
    {%- else -%}
    from (select * from {{ ref(model) }}) as {{ alias }}
    {%- endif %}
{%- endmacro %}
