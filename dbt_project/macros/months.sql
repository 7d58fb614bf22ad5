{#- Month arithmetic on first-of-month dates. -#}
{% macro add_months(date_expr, months_expr) -%}
    (({{ date_expr }}) + make_interval(months => ({{ months_expr }})::int))::date
{%- endmacro %}

{% macro months_between(start_expr, end_expr) -%}
    ((extract(year from {{ end_expr }}) - extract(year from {{ start_expr }})) * 12
     + extract(month from {{ end_expr }}) - extract(month from {{ start_expr }}))::int
{%- endmacro %}
