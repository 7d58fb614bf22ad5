{#- The model's last build time (max built_at of {{ this }}) as a literal, '-infinity' on a full
    build: a literal (not a subquery) lets PostgreSQL estimate `stamp > it` and use the indexes on the
    stamps, so finding what changed costs the change, not the table. -#}
{% macro last_built_at() -%}
    {%- if execute and is_incremental() -%}
        {%- set result = run_query("select coalesce(max(built_at), '-infinity')::text from " ~ this) -%}
        '{{ result.columns[0].values()[0] }}'::timestamptz
    {%- else -%}
        '-infinity'::timestamptz
    {%- endif -%}
{%- endmacro %}
