-- Covered periods per participant, scheme and province: the union of the two parts, each its own
-- table model, computed at once on two of dbt's threads (macros/coverage_periods.sql has the rules, the
-- method and the incremental updates). Every participant is in exactly one part.
{% for part in coverage_periods_parts() %}
select * from {{ ref(part) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
