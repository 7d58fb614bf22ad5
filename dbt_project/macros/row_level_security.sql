{#- Row-level security of a mart, re-applied after every build (dbt drops and recreates tables).

    National roles (members of bhxh_bi or bhxh_transformer) see every row; a provincial analyst role
    sees the rows whose province key it was granted (`bhxh access grant-province`, table
    security.province_access). The key column is the first of `province_key`, `target_province_key`
    the table has; rows without a key (national rows) and tables without a key column are national
    only. Table owners and superusers bypass RLS (dbt's own runs). The functions live in
    bhxh/sql/security.sql, created by `bhxh warehouse start`. -#}
{% macro row_level_security() -%}
{%- if execute -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- set ns = namespace(key=none) -%}
    {%- for candidate in ['province_key', 'target_province_key'] -%}
        {%- if ns.key is none and candidate in columns -%}{%- set ns.key = candidate -%}{%- endif -%}
    {%- endfor -%}
    {%- if ns.key is none and 'province_code' in columns -%}
        {%- do exceptions.warn(this ~ ' has province_code but no province_key: provincial analysts see none of its rows') -%}
    {%- endif %}
alter table {{ this }} enable row level security;
drop policy if exists bhxh_province_rows on {{ this }};
create policy bhxh_province_rows on {{ this }} for select using (
    (select security.sees_all_provinces(current_user))
    {%- if ns.key %}
    or {{ adapter.quote(ns.key) }} = any ((select security.province_keys(current_user))::text[])
    {%- endif %}
)
{%- endif -%}
{%- endmacro %}
