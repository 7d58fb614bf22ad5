-- New participants (receipts of type 'new', khai thác mới) per province, district, month of
-- collected_on and scheme. The province is the one the file's code meant on its report date.
-- district_code is null from 2025-07-01 (districts were abolished).

with

receipts as (

    select * from {{ ref('int_receipts__counted') }}
    where transaction_type = 'new'

)

select
    origin_province_key as province_key,
    file_province_code as province_code,
    district_code,
    date_trunc('month', collected_on)::date as month,
    scheme,
    count(*)::bigint as new_receipts,
    count(distinct participant_key)::bigint as new_participants
from receipts
group by 1, 2, 3, 4, 5
