{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        indexes=[{'columns': ['built_at']}],
        pre_hook="{% if is_incremental() %}
            delete from {{ this }} as current_rows
            using ({{ new_participants_changed_keys() }}) as changed
            where current_rows.province_key is not distinct from changed.province_key
              and current_rows.province_code is not distinct from changed.province_code
              and current_rows.district_code is not distinct from changed.district_code
              and current_rows.month is not distinct from changed.month
              and current_rows.scheme is not distinct from changed.scheme
        {% endif %}"
    )
}}
-- New participants (receipts of type 'new', khai thác mới) per province, district, month of
-- collected_on and scheme. The province is the one the file's code meant on its report date.
-- district_code is null from 2025-07-01 (districts were abolished).
--
-- Incremental: a run recounts only the keys with a `new` receipt that started or stopped counting
-- (int_receipts__versions) since the last build (max built_at); their rows are deleted first
-- (pre_hook). A new day costs the months it touches, not the history.

-- depends_on: {{ ref('int_receipts__versions') }}

with

{% if is_incremental() %}
changed as (

    {{ new_participants_changed_keys() }}

),
{% endif %}

receipts as (

    select * from {{ ref('int_receipts__counted') }}
    where transaction_type = 'new'
    {% if is_incremental() %}
      and (collected_on is null
           or (collected_on >= (select min(month) from changed)
               and collected_on < (select max(month) from changed) + interval '1 month'))
    {% endif %}

),

grouped as (

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

)

select grouped.*, now() as built_at
from grouped
{% if is_incremental() %}
where exists (
    select 1 from changed
    where changed.province_key is not distinct from grouped.province_key
      and changed.province_code is not distinct from grouped.province_code
      and changed.district_code is not distinct from grouped.district_code
      and changed.month is not distinct from grouped.month
      and changed.scheme is not distinct from grouped.scheme
)
-- the pre_hook deleted the changed keys; keys still there are current
and not exists (
    select 1 from {{ this }} as current_rows
    where current_rows.province_key is not distinct from grouped.province_key
      and current_rows.province_code is not distinct from grouped.province_code
      and current_rows.district_code is not distinct from grouped.district_code
      and current_rows.month is not distinct from grouped.month
      and current_rows.scheme is not distinct from grouped.scheme
)
{% endif %}
