{#- The (province code, report day, organisation) keys of fct_daily_collections to rebuild: those with
    a receipt that started or stopped counting (int_receipts__versions stamps) since the model's last
    build (its max built_at): a new or late file, a v2 superseding v1, a v1 superseded by a rejected
    v2. Found through the indexes on the stamps: the cost of the change, not of the history. -#}
{% macro daily_collection_changed_keys() -%}
    select distinct file_province_code as province_code, report_date, org_code
    from {{ ref('int_receipts__versions') }}
    where counted_from > {{ last_built_at() }}
       or counted_until > {{ last_built_at() }}
{%- endmacro %}
