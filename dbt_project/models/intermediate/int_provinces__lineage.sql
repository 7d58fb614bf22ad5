{{ config(materialized='table') }}
-- For every province (code + validity period), the province that stands for it at any date:
--   * itself during its own validity;
--   * after its validity ends: its successor (the merged province valid from 2025-07-01);
--   * before its validity starts (a post-merger receipt paying arrears for months before
--     2025-07-01): the predecessor with the same code that merged into it (every one of the 34
--     current codes has one: 91 An Giang <- 91 Kiên Giang, 31 Hải Phòng <- 31 Hải Phòng ...).
-- Joining a fact on (origin_province_key, date between target_valid_from and target_valid_to)
-- gives exactly one target province for any date from 2008-08-01 on.
-- A table (194 rows), not a view: its CTE inlined into int_coverage_periods kept PostgreSQL from
-- scanning, joining and sorting the receipts in parallel workers (the year's select: 284 s as a view,
-- 262 s as a table).

with

provinces as (

    select
        province_key,
        province_code,
        province_name,
        valid_from,
        coalesce(valid_to, date '9999-12-31') as valid_to,
        successor_code
    from {{ ref('stg_reference__provinces') }}

),

lineage as (

    select
        origin.province_key as origin_province_key,
        origin.province_code as origin_province_code,
        target.province_key as target_province_key,
        target.province_code as target_province_code,
        target.province_name as target_province_name,
        target.valid_from as target_valid_from,
        target.valid_to as target_valid_to,
        case
            when target.province_key = origin.province_key then 'self'
            when target.valid_from > origin.valid_to then 'successor'
            else 'same_code_predecessor'
        end as relation

    from provinces as origin
    inner join provinces as target
        on target.province_key = origin.province_key
        or (target.province_code = origin.successor_code
            and target.valid_from > origin.valid_to)
        or (target.province_code = origin.province_code
            and target.successor_code = origin.province_code
            and target.valid_to < origin.valid_from)

)

select * from lineage
