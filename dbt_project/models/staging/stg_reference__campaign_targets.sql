with

source as (

    select * from {{ ref('campaign_targets') }}

),

renamed as (

    select
        campaign_id::text as campaign_id,
        scope::text as scope,
        year::integer as year,
        metric::text as metric,
        target_value::numeric as target_value,
        window_start::date as window_start,
        window_end::date as window_end,
        source_document::text as source_document,
        status::text as campaign_status,
        source::text as campaign_source

    from source

)

select * from renamed
