with

source as (

    select * from {{ source('raw', 'quarantine') }}

),

renamed as (

    select
        file_id,
        line_no,
        reasons,
        original as original_row,
        superseded_by as superseded_by_file_id  -- set when a newer version replaced the file

    from source

)

select * from renamed
