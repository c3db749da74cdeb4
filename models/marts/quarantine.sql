-- What could not be cleaned, with the reason, traced to the source row. Two kinds:
--   action = 'value_nulled': the value is NULL in the marts (e.g. unparseable_timestamp);
--   action = 'row_excluded': the whole row is kept out of the marts (e.g. duplicate_key).
-- Source rows = mart rows + rows excluded here, per table.

with

values_failed as (
    select * from {{ ref('int_servicedesk__value_changes') }}
    where reason is not null
),

tickets as (
    select * from {{ ref('int_servicedesk__tickets_checked') }}
    where exclusion_reason is not null
),

comments as (
    select * from {{ ref('int_servicedesk__comments_checked') }}
    where exclusion_reason is not null
),

timesheets as (
    select * from {{ ref('int_servicedesk__timesheets_checked') }}
    where exclusion_reason is not null
),

unioned as (
    select table_name, source_row, row_key, column_name, raw_value, reason, 'value_nulled' as action
    from values_failed
    union all
    select 'tickets', source_row, ticket_id, 'ticket_id', ticket_id, exclusion_reason, 'row_excluded'
    from tickets
    union all
    select
        'comments', source_row, comment_id,
        case when exclusion_reason in ('missing_key', 'duplicate_key') then 'comment_id' else 'ticket_id' end,
        case when exclusion_reason in ('missing_key', 'duplicate_key') then comment_id else ticket_id end,
        exclusion_reason, 'row_excluded'
    from comments
    union all
    select 'timesheets', source_row, timesheet_id, 'ticket_id', ticket_id, exclusion_reason, 'row_excluded'
    from timesheets
),

final as (
    select
        table_name,
        source_row,
        row_key,
        column_name,
        raw_value,
        reason,
        action
    from unioned
)

select * from final
