{#- ANALYZE a model built as a table or incremental table, right after its build. An incremental
    model appends rows newer than anything in its statistics (its stamps are now()); until
    autovacuum gets to it, the planner would estimate `stamp > last build` at one row and pick a
    nested loop over the whole history for the next model's "what changed" join. -#}
{% macro analyze_table() -%}
    {%- if model.config.materialized in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
