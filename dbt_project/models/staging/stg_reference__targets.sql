with

source as (

    select * from {{ ref('targets') }}

),

renamed as (

    select
        target_id::text as target_id,
        scope::text as scope,
        metric::text as metric,
        target_value::numeric as target_value,
        deadline::date as deadline,
        source_document::text as source_document,
        status::text as target_status,
        source::text as target_source

    from source

)

select * from renamed
