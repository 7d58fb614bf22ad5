with

source as (

    select * from {{ ref('contribution_parameters') }}

),

renamed as (

    select
        parameter::text as parameter,
        valid_from::date as valid_from,
        valid_to::date as valid_to,
        value::numeric as parameter_value,
        unit::text as unit,
        status::text as parameter_status,
        source::text as parameter_source

    from source

)

select * from renamed
