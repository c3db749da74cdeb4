-- One row per source row of the comments export, cleaned (see stg_servicedesk__tickets).

with

source as (
    select * from {{ source('servicedesk', 'comments') }}
),

trimmed as (
    select
        source_row,
        {{ nullify('"CT-COMMENT-ID"') }} as comment_id,
        {{ nullify('"CT-TKT-ID"') }} as ticket_id,
        {{ nullify('"CT-USERNAME"') }} as author,
        {{ nullify('"CT-COMMENT"') }} as body,
        {{ nullify('"CT-VISIBLE-CUSTOMER"') }} as is_customer_visible,
        {{ nullify('"CT-CREATED-TIME"') }} as created_at
    from source
),

canonical as (
    select
        *,
        {{ timestamp_canon('created_at') }} as created_at__canon
    from trimmed
),

timestamp_parts as (
    select
        *,
        {{ timestamp_parts('created_at') }}
    from canonical
),

parsed as (
    select
        source_row,
        comment_id,
        ticket_id,
        author,
        body,
        {{ parse_boolean('is_customer_visible') }} as is_customer_visible,
        {{ timestamp_from_parts('created_at') }} as created_at
    from timestamp_parts
),

final as (
    select
        source_row,
        comment_id,
        ticket_id,
        author,
        body,
        is_customer_visible,
        {{ timestamp_in_range('created_at') }} as created_at
    from parsed
)

select * from final
