-- One row per source row of the comments export, cleaned (see stg_servicedesk__tickets).

with

source as (
    select * from {{ source('servicedesk', 'comments') }}
),

date_orders as (
    select * from {{ source('servicedesk', 'date_orders') }}
    where table_name = 'comments'
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

shaped as (
    select
        trimmed.*,
        {{ timestamp_shape('created_at') }}
    from trimmed
    {{ date_order_join('created_at', 'CT-CREATED-TIME') }}
),

stripped as (
    select
        *,
        {{ timestamp_body('created_at') }}
    from shaped
),

canonical as (
    select
        *,
        {{ timestamp_canon('created_at') }} as created_at__canon
    from stripped
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
        {{ timestamp_from_parts('created_at') }} as created_at,
        created_at__form,
        created_at__y
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
        {{ timestamp_in_range('created_at') }} as created_at,
        created_at__form,
        {{ timestamp_failure('created_at') }} as created_at__failure
    from parsed
)

select * from final
