with

source as (

    select * from {{ source('raw', 'receipts') }}

),

renamed as (

    select
        file_id,
        line_no,
        file_province_code::text as file_province_code,
        report_date::date as report_date,
        org_code::text as org_code,
        receipt_no,
        collected_on::date as collected_on,
        collection_point,
        province_code::text as receipt_province_code,
        district_code::text as district_code,
        commune_code::text as commune_code,
        participant_key,
        birth_year,
        gender,
        scheme::text as scheme,
        transaction_type::text as transaction_type,
        date_trunc('month', period_start)::date as period_start,
        months_paid::integer as months_paid,
        declared_income as declared_income_vnd,
        household_member_no,
        subsidy_group,
        state_subsidy as state_subsidy_vnd,
        amount as amount_vnd,
        extra as extra_columns

    from source

)

select * from renamed
