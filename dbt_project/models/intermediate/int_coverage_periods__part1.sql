-- Coverage periods of the participants in part 1 of 2 (macros/coverage_periods.sql); the rules
-- and the method are there. int_coverage_periods is the union of the parts.
{{ coverage_periods(in_part=coverage_periods_part(1)) }}
