{#- The model's last build time (max built_at of {{ this }}, or max of `column` over the rows
    matching `where`) as a literal, '-infinity' on a full build: a literal (not a subquery) lets
    PostgreSQL estimate `stamp > it` and use the indexes on the stamps, so finding what changed costs
    the change, not the table. In a dbt unit test `this` is a fixture (a CTE of the test's query):
    a subquery over it there. -#}
{% macro last_built_at(column='built_at', where='true') -%}
    {%- if execute and is_incremental() and model.resource_type == 'unit_test' -%}
        (select coalesce(max({{ column }}), '-infinity')::timestamptz from {{ this }} where {{ where }})
    {%- elif execute and is_incremental() -%}
        {%- set result = run_query("select coalesce(max(" ~ column ~ "), '-infinity')::text from " ~ this ~ " where " ~ where) -%}
        '{{ result.columns[0].values()[0] }}'::timestamptz
    {%- else -%}
        '-infinity'::timestamptz
    {%- endif -%}
{%- endmacro %}
