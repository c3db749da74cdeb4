-- What could not be cleaned, with the reason, traced to the source row. Two kinds:
--   action = 'value_nulled': the value is NULL in the marts (e.g. unparseable_timestamp);
--   action = 'row_excluded': the whole row is kept out of the marts (e.g. duplicate_key).
-- Source rows = mart rows + rows excluded here, per table.
-- raw_value is always the value as exported: for a nulled value from the value log, for an excluded
-- row from the staging model's raw__ column of the blamed key or reference (the raw copy's text,
-- carried through staging: joining the raw tables on source_row here hashed each whole raw table,
-- 1.7 → 0.9 s at scale 10). The excluded row's cleaned key is NULL when the export held '', '   ' or
-- a sentinel, and trimmed otherwise; raw_value is NULL only where the export itself held NULL.

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
    select
        'tickets', tickets.source_row, tickets.ticket_id, 'ticket_id', tickets.raw__ticket_id,
        tickets.exclusion_reason, 'row_excluded'
    from tickets
    union all
    select
        'comments', comments.source_row, comments.comment_id,
        case when comments.exclusion_reason in ('missing_key', 'duplicate_key') then 'comment_id' else 'ticket_id' end,
        case
            when comments.exclusion_reason in ('missing_key', 'duplicate_key') then comments.raw__comment_id
            else comments.raw__ticket_id
        end,
        comments.exclusion_reason, 'row_excluded'
    from comments
    union all
    select
        'timesheets', timesheets.source_row, timesheets.timesheet_id, 'ticket_id', timesheets.raw__ticket_id,
        timesheets.exclusion_reason, 'row_excluded'
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
