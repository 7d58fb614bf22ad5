{#- The report days of int_collections__anomalies to recompute, as (province code, first_day,
    last_day) ranges: every day whose receipts started or stopped counting (int_receipts__versions
    stamps) since the model's last build changes its own score, the next 28 days' baselines and, a
    year later, the seasonal windows (days -14 .. +28 around the same date). The ranges are a day or
    two wider than the windows (leap years); recomputing a day more is harmless. -#}
{% macro anomaly_recomputed_days() -%}
    select distinct changed.province_code, ranges.first_day, ranges.last_day
    from (
        select distinct file_province_code as province_code, report_date
        from {{ ref('int_receipts__versions') }}
        where counted_from > {{ last_built_at() }}
           or counted_until > {{ last_built_at() }}
    ) as changed
    cross join lateral (values
        (changed.report_date, changed.report_date + 30),
        ((changed.report_date + interval '1 year' - interval '16 days')::date,
         (changed.report_date + interval '1 year' + interval '30 days')::date)
    ) as ranges (first_day, last_day)
{%- endmacro %}
