-- The cleaning log: every value the staging models changed (rule) or could not clean (reason),
-- one row per value, traced to its source row. audit_changes and quarantine read it.

{%- set tickets = [
    ['ticket_id', 'TKT-Ticket ID', 'text'],
    ['title', 'TKT-Title', 'text'],
    ['status', 'TKT-Status', 'folded'],
    ['priority', 'TKT-Priority', 'vocabulary'],
    ['category', 'TKT-Category', 'vocabulary'],
    ['team', 'TKT-Team', 'text'],
    ['assigned_to', 'TKT-Assigned To', 'text'],
    ['created_at', 'TKT-Created Time', 'timestamp'],
    ['first_response_at', 'TKT-Actual Response Date', 'timestamp'],
    ['resolved_at', 'TKT-Actual Resolution Date', 'timestamp'],
    ['closed_at', 'TKT-Closed Time', 'timestamp'],
    ['is_sla_met', 'TKT-SLA Met', 'boolean'],
] %}
{%- set comments = [
    ['comment_id', 'CT-COMMENT-ID', 'text'],
    ['ticket_id', 'CT-TKT-ID', 'text'],
    ['created_at', 'CT-CREATED-TIME', 'timestamp'],
    ['author', 'CT-USERNAME', 'text'],
    ['body', 'CT-COMMENT', 'text'],
    ['is_customer_visible', 'CT-VISIBLE-CUSTOMER', 'boolean'],
] %}
{%- set timesheets = [
    ['title', 'TS-Title', 'text'],
    ['hours', 'TS-Hours', 'number'],
    ['work_date', 'TS-Date', 'timestamp'],
    ['user_name', 'TS-User', 'text'],
    ['ticket_id', 'TS-Crm ID', 'text'],
    ['category', 'TS-Category', 'text'],
] %}

with

tickets as (
    {{ value_changes('tickets', source('servicedesk', 'tickets'), ref('stg_servicedesk__tickets'), 'ticket_id', tickets) }}
),

comments as (
    {{ value_changes('comments', source('servicedesk', 'comments'), ref('stg_servicedesk__comments'), 'comment_id', comments) }}
),

timesheets as (
    {{ value_changes('timesheets', source('servicedesk', 'timesheets'), ref('stg_servicedesk__timesheets'), 'timesheet_id', timesheets) }}
),

unioned as (
    select * from tickets
    union all
    select * from comments
    union all
    select * from timesheets
)

select * from unioned
