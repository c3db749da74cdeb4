-- One row per source row of the tickets export, cleaned: text trimmed, empty strings and sentinels
-- as NULL, vocabularies mapped, dates as real timestamps, the SLA flag as a boolean.
-- Unparseable values become NULL here; int_servicedesk__value_changes lists them (quarantine)
-- and every other value the cleaning changed (audit).

with

source as (
    select * from {{ source('servicedesk', 'tickets') }}
),

status_map as (
    select * from {{ ref('status_map') }}
),

priority_map as (
    select * from {{ ref('priority_map') }}
),

category_map as (
    select * from {{ ref('category_map') }}
),

trimmed as (
    select
        source_row,
        {{ nullify('"TKT-Ticket ID"') }} as ticket_id,
        {{ nullify('"TKT-Title"') }} as title,
        {{ nullify('"TKT-Status"') }} as status,
        {{ nullify('"TKT-Priority"') }} as priority,
        {{ nullify('"TKT-Category"') }} as category,
        {{ nullify('"TKT-Team"') }} as team,
        {{ nullify('"TKT-Assigned To"') }} as assigned_to,
        {{ nullify('"TKT-SLA Met"') }} as is_sla_met,
        {{ nullify('"TKT-Created Time"') }} as created_at,
        {{ nullify('"TKT-Actual Response Date"') }} as first_response_at,
        {{ nullify('"TKT-Actual Resolution Date"') }} as resolved_at,
        {{ nullify('"TKT-Closed Time"') }} as closed_at
    from source
),

canonical as (
    select
        *,
        {{ timestamp_canon('created_at') }} as created_at__canon,
        {{ timestamp_canon('first_response_at') }} as first_response_at__canon,
        {{ timestamp_canon('resolved_at') }} as resolved_at__canon,
        {{ timestamp_canon('closed_at') }} as closed_at__canon
    from trimmed
),

timestamp_parts as (
    select
        *,
        {{ timestamp_parts('created_at') }},
        {{ timestamp_parts('first_response_at') }},
        {{ timestamp_parts('resolved_at') }},
        {{ timestamp_parts('closed_at') }}
    from canonical
),

parsed as (
    select
        source_row,
        ticket_id,
        title,
        status,
        priority,
        category,
        team,
        assigned_to,
        {{ parse_boolean('is_sla_met') }} as is_sla_met,
        {{ timestamp_from_parts('created_at') }} as created_at,
        {{ timestamp_from_parts('first_response_at') }} as first_response_at,
        {{ timestamp_from_parts('resolved_at') }} as resolved_at,
        {{ timestamp_from_parts('closed_at') }} as closed_at
    from timestamp_parts
),

final as (
    select
        parsed.source_row,
        parsed.ticket_id,
        parsed.title,
        coalesce(status_map.status, parsed.status) as status,
        coalesce(priority_map.priority, parsed.priority) as priority,
        coalesce(category_map.category, parsed.category) as category,
        parsed.team,
        parsed.assigned_to,
        parsed.is_sla_met,
        parsed.status is null or status_map.status is not null as is_status_mapped,
        parsed.priority is null or priority_map.priority is not null as is_priority_mapped,
        parsed.category is null or category_map.category is not null as is_category_mapped,
        {{ timestamp_in_range('parsed.created_at') }} as created_at,
        {{ timestamp_in_range('parsed.first_response_at') }} as first_response_at,
        {{ timestamp_in_range('parsed.resolved_at') }} as resolved_at,
        {{ timestamp_in_range('parsed.closed_at') }} as closed_at
    from parsed
    left join status_map on lower(parsed.status) = status_map.raw_value
    left join priority_map on lower(parsed.priority) = priority_map.raw_value
    left join category_map on lower(parsed.category) = category_map.raw_value
)

select * from final
