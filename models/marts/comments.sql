-- Comments for the dashboards: one row per comment id, each keyed to an existing ticket.

with

checked as (
    select * from {{ ref('int_servicedesk__comments_checked') }}
    where exclusion_reason is null
),

final as (
    select
        comment_id,
        ticket_id,
        author,
        body,
        is_customer_visible,
        created_at,
        source_row
    from checked
)

select * from final
