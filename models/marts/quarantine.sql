-- What could not be cleaned, with the reason, traced to the source row. Two kinds:
--   action = 'value_nulled': the value is NULL in the marts (e.g. unparseable_timestamp);
--   action = 'row_excluded': the whole row is kept out of the marts (e.g. duplicate_key).
-- Source rows = mart rows + rows excluded here, per table.
-- raw_value is always the value as exported, read from the raw copy (joined on source_row): for an
-- excluded row too, whose cleaned key is NULL when the export held '', '   ' or a sentinel, and
-- trimmed otherwise. It is NULL only where the export itself held NULL.

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

-- the raw text of the columns an excluded row is blamed on, by source row
raw_tickets as (
    select
        source_row,
        {{ adapter.quote(raw_column('tickets', 'ticket_id')) }} as raw_ticket_id
    from {{ source('servicedesk', 'tickets') }}
),

raw_comments as (
    select
        source_row,
        {{ adapter.quote(raw_column('comments', 'comment_id')) }} as raw_comment_id,
        {{ adapter.quote(raw_column('comments', 'ticket_id')) }} as raw_ticket_id
    from {{ source('servicedesk', 'comments') }}
),

raw_timesheets as (
    select
        source_row,
        {{ adapter.quote(raw_column('timesheets', 'ticket_id')) }} as raw_ticket_id
    from {{ source('servicedesk', 'timesheets') }}
),

unioned as (
    select table_name, source_row, row_key, column_name, raw_value, reason, 'value_nulled' as action
    from values_failed
    union all
    select
        'tickets', tickets.source_row, tickets.ticket_id, 'ticket_id', raw_tickets.raw_ticket_id,
        tickets.exclusion_reason, 'row_excluded'
    from tickets
    inner join raw_tickets on tickets.source_row = raw_tickets.source_row
    union all
    select
        'comments', comments.source_row, comments.comment_id,
        case when comments.exclusion_reason in ('missing_key', 'duplicate_key') then 'comment_id' else 'ticket_id' end,
        case
            when comments.exclusion_reason in ('missing_key', 'duplicate_key') then raw_comments.raw_comment_id
            else raw_comments.raw_ticket_id
        end,
        comments.exclusion_reason, 'row_excluded'
    from comments
    inner join raw_comments on comments.source_row = raw_comments.source_row
    union all
    select
        'timesheets', timesheets.source_row, timesheets.timesheet_id, 'ticket_id', raw_timesheets.raw_ticket_id,
        timesheets.exclusion_reason, 'row_excluded'
    from timesheets
    inner join raw_timesheets on timesheets.source_row = raw_timesheets.source_row
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
