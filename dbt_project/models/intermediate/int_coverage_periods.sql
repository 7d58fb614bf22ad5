-- Covered periods per participant, scheme and province: the union of the two parts, each its own
-- table model, computed at once on dbt's two threads (macros/coverage_periods.sql has the rules, the
-- method and the incremental updates). Every participant is in exactly one part.
select * from {{ ref('int_coverage_periods__part0') }}
union all
select * from {{ ref('int_coverage_periods__part1') }}
