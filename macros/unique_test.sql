{#-
    dbt's built-in `unique` test on PostgreSQL (dbt finds postgres__test_unique here before its own
    default__test_unique). The same rows as dbt's: each value held by more than one row, with its
    number of rows (n_records).

    Nearly always a key is unique, so the test first asks only that: `count(col) <> count(distinct
    col)`, one sort of the column's values alone (PostgreSQL sorts datums, not rows, for a DISTINCT
    aggregate). Only when that finds a duplicate does the query that lists them run (a one-time
    filter skips it otherwise: EXPLAIN shows it "never executed"). That query sorts the rows once and
    compares each value with the one before it; dbt's version groups every value in a hash table,
    which PostgreSQL spills to disk when the keys outnumber work_mem (at scale 40,
    `stg_servicedesk__timesheets.source_row` 6.3 → 2.6 s, `timesheet_id` 7.5 → 3.6 s). With the
    count first, at scale 10 (1.4 M rows): `source_row` 0.57 → 0.27 s, `timesheet_id` (text)
    0.95 → 0.61 s. DuckDB keeps dbt's version.

    A text column's first question counts distinct 64-bit hashes of its values instead: equal
    values hash alike, so as many distinct hashes as values means no duplicate; a duplicate or a
    collision of two hashes sends the test on to the listing query, which compares the values
    themselves. Text sorts slowly when its values share a long prefix ('TS-1410620'), an int8 does
    not: psql at scale 10, `timesheet_id` 0.76-0.79 → 0.39-0.40 s, `tickets.ticket_id` 0.07 →
    0.03 s, while a bigint column keeps its own sort (0.24 s; the hash of its text took 0.46 s). The
    query asks the column's type itself (pg_typeof of one row; each count is an InitPlan that
    PostgreSQL runs only when the CASE reaches it), so the test costs dbt no catalog query. Only
    text, varchar and char take the hash: a citext's equal values ('A', 'a') hash apart.
-#}
{% macro postgres__test_unique(model, column_name) %}

select
    unique_field,
    count(*) + 1 as n_records

from (
    select
        {{ column_name }} as unique_field,
        lag({{ column_name }}) over (order by {{ column_name }}) as previous_field
    from {{ model }}
    where {{ column_name }} is not null
) as sorted
where unique_field = previous_field
    and (select case
        when (select pg_typeof({{ column_name }}) from {{ model }} limit 1)
            in ('text'::regtype, 'character varying'::regtype, 'character'::regtype)
        then (select count({{ column_name }}) <> count(distinct hashtextextended(cast({{ column_name }} as text), 0))
              from {{ model }})
        else (select count({{ column_name }}) <> count(distinct {{ column_name }}) from {{ model }})
    end)
group by unique_field

{% endmacro %}
