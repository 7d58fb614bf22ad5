with

source as (

    select * from {{ source('raw', 'quarantine') }}

),

renamed as (

    select
        file_id,
        line_no,
        reasons,
        original as original_row

    from source

)

select * from renamed
