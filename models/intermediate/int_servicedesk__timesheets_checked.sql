-- Each cleaned timesheet row with the reason it cannot enter the marts, if any:
-- missing_ticket_ref (no ticket id) or unknown_ticket (no such ticket).

with

timesheets as (
    select * from {{ ref('stg_servicedesk__timesheets') }}
),

tickets as (
    select ticket_id from {{ ref('int_servicedesk__tickets_checked') }}
    where exclusion_reason is null
),

joined as (
    select
        timesheets.*,
        tickets.ticket_id is not null as has_ticket
    from timesheets
    left join tickets on timesheets.ticket_id = tickets.ticket_id
),

final as (
    select
        *,
        case
            when ticket_id is null then 'missing_ticket_ref'
            when not has_ticket then 'unknown_ticket'
        end as exclusion_reason
    from joined
)

select * from final
