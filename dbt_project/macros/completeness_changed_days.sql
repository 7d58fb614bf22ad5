{#- The (province code, report day) pairs of fct_report_completeness to recompute: days with a file
    inserted or changed (raw.report_files.changed_at: landed, loaded, quarantined, rejected,
    superseded), a report (re-)registered (raw.expected_reports.registered_at), or a deadline after
    the last build (pending reports, and those whose deadline passed since: pending becomes missing
    with no new data), all since a day before the model's last build (max built_at; a loader
    transaction is never a day long, and its stamps are its start). Found through the indexes on
    those columns: the cost of the change, not of the history. -#}
{% macro completeness_changed_days() -%}
    {%- set since = last_built_at() ~ " - interval '1 day'" -%}
    select file_province_code as province_code, report_date
    from {{ ref('stg_collections__report_files') }}
    where changed_at > {{ since }}
    union
    select province_code, report_date
    from {{ ref('stg_collections__expected_reports') }}
    where registered_at > {{ since }}
       or deadline_at > {{ since }}
{%- endmacro %}
