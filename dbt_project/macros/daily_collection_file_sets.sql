{#- The loaded file versions behind each (province code, report day, organisation) of
    fct_daily_collections, as a fingerprint `source_files` ('408' or '408,912'). A key whose
    fingerprint changed (a v2 superseding v1, a late file, a file loaded after being landed) or
    vanished (its only file superseded by a rejected one) is rebuilt by the incremental run. -#}
{% macro daily_collection_file_sets() -%}
    select
        file_province_code as province_code,
        report_date,
        org_code,
        string_agg(file_id::text, ',' order by file_id) as source_files
    from {{ ref('stg_collections__report_files') }}
    where file_status = 'loaded'
    group by 1, 2, 3
{%- endmacro %}
