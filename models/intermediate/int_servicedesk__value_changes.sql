-- The cleaning log: every value the staging models changed (rule) or could not clean (reason),
-- one row per value, traced to its source row. audit_changes and quarantine read it.
-- The columns logged, and how (their kind), are the column map of the sources file
-- (_servicedesk__sources.yml; macros/cleaning/column_map.sql).

with

tickets as (
    {{ value_changes(
        'tickets', source('servicedesk', 'tickets'), ref('stg_servicedesk__tickets'),
        key_column('tickets'), column_map('tickets')
    ) }}
),

comments as (
    {{ value_changes(
        'comments', source('servicedesk', 'comments'), ref('stg_servicedesk__comments'),
        key_column('comments'), column_map('comments')
    ) }}
),

timesheets as (
    {{ value_changes(
        'timesheets', source('servicedesk', 'timesheets'), ref('stg_servicedesk__timesheets'),
        key_column('timesheets'), column_map('timesheets')
    ) }}
),

unioned as (
    select * from tickets
    union all
    select * from comments
    union all
    select * from timesheets
)

select * from unioned
