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

    A text column's first question counts distinct 64-bit hashes of its values instead (`hashed`):
    equal values hash alike, so as many distinct hashes as values means no duplicate; a duplicate or
    a collision of two hashes sends the test on to the listing query, which compares the values
    themselves. Text sorts slowly when its values share a long prefix ('TS-1410620'), an int8 does
    not: psql at scale 10, `timesheet_id` 0.76-0.79 → 0.39-0.40 s, `tickets.ticket_id` 0.07 →
    0.03 s; a bigint column keeps its own sort (0.24 s; its text's hash took 0.46 s).
-#}
{% macro postgres__test_unique(model, column_name) %}
    {%- set hashed = namespace(is_text=false) -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(model) -%}
            {%- if column.name == column_name and column.is_string() -%}
                {%- set hashed.is_text = true -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ unique_rows(model, column_name, hashed.is_text) }}
{% endmacro %}

{#- The rows of postgres__test_unique; `hashed`: the first question counts the values' hashes (text
    only: hashtextextended). -#}
{% macro unique_rows(model, column_name, hashed) %}

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
    and (select count({{ column_name }}) <> count(distinct
        {%- if hashed %} hashtextextended({{ column_name }}, 0){% else %} {{ column_name }}{% endif %})
        from {{ model }})
group by unique_field

{% endmacro %}
