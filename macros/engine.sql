{#-
    Engine differences, one macro each (adapter.dispatch with duckdb__ and postgres__ variants).
    Models never branch on the engine; they call these.
-#}

{# True when `expr` matches the regular expression `pattern` (anywhere; anchor it with ^...$). #}
{% macro regex_test(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_test', 'servicedesk')(expr, pattern)) }}
{%- endmacro %}
{% macro duckdb__regex_test(expr, pattern) -%}
    regexp_matches({{ expr }}, '{{ pattern }}')
{%- endmacro %}
{% macro postgres__regex_test(expr, pattern) -%}
    ({{ expr }} ~ '{{ pattern }}')
{%- endmacro %}

{# Whitespace (space, tab, CR, LF, no-break space) removed from both ends. #}
{% macro trim_ws(expr) -%}
    {{ return(adapter.dispatch('trim_ws', 'servicedesk')(expr)) }}
{%- endmacro %}
{% macro duckdb__trim_ws(expr) -%}
    trim({{ expr }}, ' ' || chr(9) || chr(10) || chr(13) || chr(160))
{%- endmacro %}
{% macro postgres__trim_ws(expr) -%}
    btrim({{ expr }}, ' ' || chr(9) || chr(10) || chr(13) || chr(160))
{%- endmacro %}

{# A timestamp (without time zone) from seconds since 1970-01-01 00:00:00. #}
{% macro epoch_to_timestamp(seconds) -%}
    {{ return(adapter.dispatch('epoch_to_timestamp', 'servicedesk')(seconds)) }}
{%- endmacro %}
{% macro duckdb__epoch_to_timestamp(seconds) -%}
    make_timestamp(cast(round(({{ seconds }}) * 1000000) as bigint))
{%- endmacro %}
{% macro postgres__epoch_to_timestamp(seconds) -%}
    (timestamp '1970-01-01 00:00:00' + ({{ seconds }}) * interval '1 second')
{%- endmacro %}

{# `ts` shifted by a whole number of minutes. #}
{% macro add_minutes(ts, minutes) -%}
    {{ return(adapter.dispatch('add_minutes', 'servicedesk')(ts, minutes)) }}
{%- endmacro %}
{% macro duckdb__add_minutes(ts, minutes) -%}
    ({{ ts }} + to_minutes(cast({{ minutes }} as bigint)))
{%- endmacro %}
{% macro postgres__add_minutes(ts, minutes) -%}
    ({{ ts }} + make_interval(mins => cast({{ minutes }} as integer)))
{%- endmacro %}

{# Seconds from `start_ts` to `end_ts` (negative when end is earlier), as a double. #}
{% macro seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('seconds_between', 'servicedesk')(start_ts, end_ts)) }}
{%- endmacro %}
{% macro duckdb__seconds_between(start_ts, end_ts) -%}
    (epoch({{ end_ts }}) - epoch({{ start_ts }}))
{%- endmacro %}
{% macro postgres__seconds_between(start_ts, end_ts) -%}
    extract(epoch from ({{ end_ts }} - {{ start_ts }}))
{%- endmacro %}

{# The date part of a timestamp, as a date. #}
{% macro to_date(ts) -%}
    cast({{ ts }} as date)
{%- endmacro %}

{#-
    Ends a CTE whose columns are computed once per row and read many times by the next one (the
    cleaning steps of the staging models: `from trimmed {{ computed_once() }}`). PostgreSQL inlines
    a CTE used once and copies each column's expression into every place the outer query reads it;
    the timestamp parser reads the canonical text dozens of times, so each value would be parsed
    dozens of times. OFFSET 0 keeps PostgreSQL from pulling the subquery up: each row streams
    through the step once, with no copy kept (a volatile call in the select list, the fence used
    before, made PostgreSQL write every step's rows to a tuplestore: stg_servicedesk__timesheets
    13.9 → 9.4 s at scale 10, docs/benchmarks-models.md). DuckDB eliminates common subexpressions
    itself and keeps its plans free of a LIMIT: nothing.
-#}
{% macro computed_once() -%}
    {{ return(adapter.dispatch('computed_once', 'servicedesk')()) }}
{%- endmacro %}
{% macro default__computed_once() -%}
{%- endmacro %}
{% macro postgres__computed_once() -%}
    offset 0
{%- endmacro %}

{#-
    `expr` where `condition` holds, else `default`: for the arguments of a function that raises on
    invalid input (make_timestamp) inside `case when condition then f(...) end`. DuckDB folds constant
    arguments at plan time, before the CASE decides (dbt's unit tests feed constants), so each argument
    carries the condition too. PostgreSQL evaluates the CASE row by row and the arguments come from a
    CTE that computed_once keeps from being inlined, so nothing is folded: the bare argument, which
    spares it evaluating the condition again per argument (the three staging models: 9.4 → 8.3 s
    at scale 1, mean of three prod builds each).
-#}
{% macro guarded(condition, expr, default) -%}
    {{ return(adapter.dispatch('guarded', 'servicedesk')(condition, expr, default)) }}
{%- endmacro %}
{% macro duckdb__guarded(condition, expr, default) -%}
    case when {{ condition }} then {{ expr }} else {{ default }} end
{%- endmacro %}
{% macro postgres__guarded(condition, expr, default) -%}
    {{ expr }}
{%- endmacro %}

{# SQL string literals of a list of texts. #}
{% macro quoted(texts) -%}
    {%- set out = [] -%}
    {%- for t in texts -%}
        {%- do out.append("'" ~ (t | string | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#-
    True when `expr` equals one of `values` (a list of string literals, already quoted). DuckDB plans
    a long IN list as a join of its own, and one join per column and per test adds up (the value log
    needed 300 MB for 10,939 tickets); list_contains is a plain function. PostgreSQL's IN list is
    already a plain array test.
-#}
{% macro value_in(expr, values) -%}
    {{ return(adapter.dispatch('value_in', 'servicedesk')(expr, values)) }}
{%- endmacro %}
{% macro duckdb__value_in(expr, values) -%}
    list_contains([{{ values | join(', ') }}], {{ expr }})
{%- endmacro %}
{% macro postgres__value_in(expr, values) -%}
    ({{ expr }} in ({{ values | join(', ') }}))
{%- endmacro %}

{#
    Planner statistics for a table just built (a model's post-hook). PostgreSQL: ANALYZE, since
    autovacuum looks at a new table only later, and the gates' tests, the deploy's comparison and
    the dashboards read the marts at once; without statistics it can choose a nested loop where a
    hash join takes milliseconds. A view has no statistics of its own: nothing. DuckDB keeps its
    statistics as it writes: nothing.
#}
{% macro analyze_table(relation) -%}
    {{ return(adapter.dispatch('analyze_table', 'servicedesk')(relation)) }}
{%- endmacro %}
{% macro default__analyze_table(relation) -%}
{%- endmacro %}
{% macro postgres__analyze_table(relation) -%}
    {%- if config.get('materialized') != 'view' %}analyze {{ relation }}{% endif -%}
{%- endmacro %}

{#
    The indexes the tickets mart's duration panels read in order (its post-hook; the panels are
    scripts/build_dashboards.py). For a median per group PostgreSQL sorts every row of the range by
    its group, then each group by its value: two thirds of such a panel's time. An index on the
    panel's own group expression and value, holding the columns it filters on, hands the rows over
    in that order from the index alone (pytest_tests/test_dashboards.py checks each panel's plan),
    once VACUUM has marked the table's pages all-visible: sdrun does before the swap
    (orchestrator/targets/postgres.py, vacuum_indexed), autovacuum after a plain `dbt build`.
    A predicate is one the panel's WHERE repeats. Unnamed: PostgreSQL picks a name free in the schema
    (dbt drops the old table, and its indexes' names, only after the post-hooks). DuckDB: nothing.
#}
{% macro panel_indexes(relation) -%}
    {{ return(adapter.dispatch('panel_indexes', 'servicedesk')(relation)) }}
{%- endmacro %}
{% macro default__panel_indexes(relation) -%}
{%- endmacro %}
{% macro postgres__panel_indexes(relation) -%}
    {%- set response = ["response_minutes_float", "created_at", "response_minutes is not null"] -%}
    {%- set resolution = ["resolution_hours_float", "resolved_at, status_group", "resolution_hours is not null"] -%}
    {%- set indexes = [
        ("coalesce(team, '(none)')", "team", response),
        ("coalesce(priority, '(none)')", "priority", response),
        ("date_trunc('day', created_at)", none, response),
        ("coalesce(team, '(none)')", "team", resolution),
        ("coalesce(category, '(none)')", "category", resolution),
        ("coalesce(priority, '(none)')", "priority", resolution),
        ("date_trunc('week', resolved_at)", none, resolution),
    ] -%}
    {%- for group_by, column, (value, filtered, predicate) in indexes %}
    create index on {{ relation }} ({{ group_by }}, {{ value }})
        include ({{ [column, filtered] | reject('none') | join(', ') }}) where {{ predicate }};
    {%- endfor %}
{%- endmacro %}
