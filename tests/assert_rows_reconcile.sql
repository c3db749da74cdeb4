-- Nothing is lost: per table, source rows = rows in the mart + rows excluded to quarantine.
-- Returns the tables that do not add up.

with

source_counts as (
    select 'tickets' as table_name, count(*) as source_rows from {{ source('servicedesk', 'tickets') }}
    union all
    select 'comments', count(*) from {{ source('servicedesk', 'comments') }}
    union all
    select 'timesheets', count(*) from {{ source('servicedesk', 'timesheets') }}
),

mart_counts as (
    select 'tickets' as table_name, count(*) as mart_rows from {{ ref('tickets') }}
    union all
    select 'comments', count(*) from {{ ref('comments') }}
    union all
    select 'timesheets', count(*) from {{ ref('timesheets') }}
),

excluded_counts as (
    select table_name, count(distinct source_row) as excluded_rows
    from {{ ref('quarantine') }}
    where action = 'row_excluded'
    group by table_name
)

select
    source_counts.table_name,
    source_counts.source_rows,
    mart_counts.mart_rows,
    coalesce(excluded_counts.excluded_rows, 0) as excluded_rows
from source_counts
inner join mart_counts on source_counts.table_name = mart_counts.table_name
left join excluded_counts on source_counts.table_name = excluded_counts.table_name
where source_counts.source_rows <> mart_counts.mart_rows + coalesce(excluded_counts.excluded_rows, 0)
