-- Tickets for the dashboards: one row per ticket id, with response and resolution durations.

with

checked as (
    select * from {{ ref('int_servicedesk__tickets_checked') }}
    where exclusion_reason is null
),

final as (
    select
        ticket_id,
        title,
        status,
        status_group,
        priority,
        priority_raw,
        category,
        team,
        assigned_to,
        cast(round(cast({{ seconds_between('created_at', 'first_response_at') }} / 60.0 as numeric), 2)
            as numeric(14, 2)) as response_minutes,
        cast(round(cast({{ seconds_between('created_at', 'resolved_at') }} / 3600.0 as numeric), 2)
            as numeric(14, 2)) as resolution_hours,
        is_sla_met,
        is_status_mapped,
        is_priority_mapped,
        created_at,
        first_response_at,
        resolved_at,
        closed_at,
        source_row
    from checked
)

select * from final
