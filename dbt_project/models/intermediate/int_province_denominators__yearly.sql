-- Yearly denominators per province (code + validity) for every year the province exists between
-- vars denominator_first_year and denominator_last_year.
--
-- Extension method (documented in _intermediate__models.yml):
--   * old provinces (valid until 2025-06-30): each figure (population, 15+ labour force,
--     working-age labour force) is the published value of the same year when there is one;
--     otherwise the latest earlier published value is carried forward (population and working-age
--     labour force from 2020, 15+ labour force from 2021), and years before the first published
--     year carry the earliest value back. Such rows are flagged is_estimate and name their base year.
--   * merged provinces (valid from 2025-07-01): the sum over their predecessors (old provinces whose
--     successor_code is the province's code) of the figures above for the same year; null if any
--     predecessor's figure is missing; an estimate when any predecessor's figure is.

with

provinces as (

    select * from {{ ref('stg_reference__provinces') }}

),

denominators as (

    select * from {{ ref('stg_reference__province_denominators') }}

),

published as (

    select
        provinces.province_key,
        denominators.*
    from denominators
    inner join provinces
        on provinces.province_code = denominators.province_code
       and make_date(denominators.year, 7, 1)
           between provinces.valid_from and coalesce(provinces.valid_to, date '9999-12-31')

),

old_province_years as (

    select
        provinces.province_key,
        provinces.province_code,
        extract(year from provinces.valid_to)::int as last_valid_year,
        years.year::integer as year
    from provinces
    -- extended to the last year for all old provinces: merged provinces sum these extensions
    cross join lateral generate_series(
        greatest({{ var('denominator_first_year') }}, extract(year from provinces.valid_from)::int),
        {{ var('denominator_last_year') }}
    ) as years (year)
    where provinces.valid_to is not null

),

old_extended as (

    select
        province_years.province_key,
        province_years.province_code,
        province_years.last_valid_year,
        province_years.year,
        population.population,
        population.population_status,
        population.year as population_base_year,
        labour.labour_force_15plus,
        labour.labour_force_15plus_status,
        labour.year as labour_force_15plus_base_year,
        working_age.working_age_labour_force,
        working_age.working_age_labour_force_status,
        working_age.year as working_age_base_year

    from old_province_years as province_years
    left join lateral (
        select p.year, p.population, p.population_status
        from published as p
        where p.province_key = province_years.province_key and p.population is not null
        order by (p.year > province_years.year), abs(p.year - province_years.year)
        limit 1
    ) as population on true
    left join lateral (
        select p.year, p.labour_force_15plus, p.labour_force_15plus_status
        from published as p
        where p.province_key = province_years.province_key and p.labour_force_15plus is not null
        order by (p.year > province_years.year), abs(p.year - province_years.year)
        limit 1
    ) as labour on true
    left join lateral (
        select p.year, p.working_age_labour_force, p.working_age_labour_force_status
        from published as p
        where p.province_key = province_years.province_key and p.working_age_labour_force is not null
        order by (p.year > province_years.year), abs(p.year - province_years.year)
        limit 1
    ) as working_age on true

),

old_final as (

    select
        province_key,
        province_code,
        last_valid_year,
        year,
        population,
        population is not null and population_base_year <> year as population_is_estimate,
        case
            when population is null then null
            when population_base_year = year then population_status
            else 'estimate:carried_from_' || population_base_year || ' (' || population_status || ')'
        end as population_method,
        labour_force_15plus,
        labour_force_15plus is not null and labour_force_15plus_base_year <> year
            as labour_force_15plus_is_estimate,
        working_age_labour_force,
        working_age_labour_force is not null and working_age_base_year <> year
            as working_age_labour_force_is_estimate,
        case
            when working_age_labour_force is null then null
            when working_age_base_year = year then working_age_labour_force_status
            else 'estimate:carried_from_' || working_age_base_year
                 || ' (' || working_age_labour_force_status || ')'
        end as working_age_labour_force_method
    from old_extended

),

merged_provinces as (

    select
        merged.province_key,
        merged.province_code,
        predecessor.province_key as predecessor_key,
        extract(year from merged.valid_from)::int as first_year
    from provinces as merged
    inner join provinces as predecessor
        on predecessor.successor_code = merged.province_code
       and predecessor.valid_to < merged.valid_from
    where merged.valid_to is null

),

merged_final as (

    select
        merged_provinces.province_key,
        merged_provinces.province_code,
        years.year::integer as year,
        case when count(*) = count(old_final.population)
             then sum(old_final.population) end::bigint as population,
        bool_or(old_final.population_is_estimate) as population_is_estimate,
        'derived:sum_of_predecessors' as population_method,
        case when count(*) = count(old_final.labour_force_15plus)
             then sum(old_final.labour_force_15plus) end::bigint as labour_force_15plus,
        bool_or(old_final.labour_force_15plus_is_estimate) as labour_force_15plus_is_estimate,
        case when count(*) = count(old_final.working_age_labour_force)
             then sum(old_final.working_age_labour_force) end::bigint as working_age_labour_force,
        bool_or(old_final.working_age_labour_force_is_estimate) as working_age_labour_force_is_estimate,
        'derived:sum_of_predecessors' as working_age_labour_force_method

    from merged_provinces
    cross join lateral generate_series(
        greatest({{ var('denominator_first_year') }}, merged_provinces.first_year),
        {{ var('denominator_last_year') }}
    ) as years (year)
    left join old_final
        on old_final.province_key = merged_provinces.predecessor_key
       and old_final.year = years.year
    group by 1, 2, 3

)

select
    province_key, province_code, year,
    population, population_is_estimate, population_method,
    labour_force_15plus, labour_force_15plus_is_estimate,
    working_age_labour_force, working_age_labour_force_is_estimate, working_age_labour_force_method
from old_final
where year <= last_valid_year

union all

select
    province_key, province_code, year,
    population, population_is_estimate, population_method,
    labour_force_15plus, labour_force_15plus_is_estimate,
    working_age_labour_force, working_age_labour_force_is_estimate, working_age_labour_force_method
from merged_final
