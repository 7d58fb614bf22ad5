-- Receipts that count (loaded files only) per province, report day, organisation and scheme.

with

receipts as (

    select * from {{ ref('int_receipts__counted') }}
    where origin_province_key is not null

)

select
    origin_province_key::text as province_key,
    file_province_code::text as province_code,
    report_date::date as report_date,
    org_code::text as org_code,
    scheme::text as scheme,
    count(*)::bigint as receipts,
    count(distinct participant_key)::bigint as participants,
    coalesce(sum(amount_vnd), 0)::bigint as amount_vnd,
    coalesce(sum(state_subsidy_vnd), 0)::bigint as state_subsidy_vnd,
    (count(distinct participant_key) filter (where transaction_type = 'new'))::bigint as new_participants,
    (count(*) filter (where transaction_type = 'refund'))::bigint as refunds
from receipts
group by 1, 2, 3, 4, 5
