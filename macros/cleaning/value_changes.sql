{#-
    The cleaning log, in long form: one row per value that cleaning changed or could not clean.

    value_changes(table_name, source_relation, staging_relation, key, columns) compares each raw
    value with its cleaned value, row by row (joined on source_row), and returns
      table_name, source_row, row_key, column_name, raw_value, clean_value, rule, reason
    where `rule` names the change (audit_changes) and `reason` why a value could not be cleaned
    (quarantine). Unchanged values are not listed. Only the rows the staging model marks
    may_have_changed (below) are joined with their raw row, and of those only the rows where some
    value may have changed (_may_change: a few comparisons per value) are unpivoted and tested. About
    1% of a real export's rows hold a change: the join no longer sorts or hashes every row of both
    tables (docs/benchmarks-models.md).

    key: the staging model's key column (key_column); columns: the table's column map
    (column_map(table), macros/cleaning/column_map.sql: each {clean, raw, kind}, as the sources file
    declares it). What each kind logs:
      text        trimmed; empty, blank and sentinel values to NULL
      folded      text, then case variants folded to the export's most frequent spelling (status)
      vocabulary  text, then mapped through a seed (priority: P1-P4; category only if the user maps it)
      timestamp   text, then parsed; the staging model says how (col__form) or why not (col__failure)
      number      text, then parsed (col__form: plain, decimal_comma, thousands_*)
      boolean     text, then parsed (macros/cleaning/values.sql)
-#}

{% macro value_changes(table_name, source_relation, staging_relation, key, columns) -%}
with

joined as (
    select
        raw.source_row,
        stg.{{ key }} as row_key,
        {%- for col in columns %}
        {%- if col.kind in ('timestamp', 'number') %}
        stg.{{ col.clean }}__form as form__{{ col.clean }},
        {%- endif %}
        {%- if col.kind == 'timestamp' %}
        stg.{{ col.clean }}__failure as failure__{{ col.clean }},
        {%- endif %}
        raw.{{ adapter.quote(col.raw) }} as raw__{{ col.clean }},
        stg.{{ col.clean }} as clean__{{ col.clean }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ source_relation }} as raw
    inner join {{ staging_relation }} as stg on raw.source_row = stg.source_row
    {#- only the rows where some value may have been changed: most rows have none, and the rules
        below cost a trim and a sentinel test per value #}
    where stg.may_have_changed and (
        {%- for col in columns %}
        {{ "or " if not loop.first }}({{ _may_change("raw." ~ adapter.quote(col.raw), "stg." ~ col.clean, col.kind) }})
        {%- endfor %})
),

logged as (
    {%- for col in columns %}
    {%- set c = col.clean %}
    select
        '{{ table_name }}' as table_name,
        source_row,
        row_key,
        '{{ c }}' as column_name,
        raw__{{ c }} as raw_value,
        cast(clean__{{ c }} as varchar) as clean_value,
        {{ _change_rule(c, col.kind) }} as rule,
        {{ _failure_reason(c, col.kind) }} as reason
    from (
        {#- per column, not in a shared CTE: the engine need not hold every column's trims at once -#}
        select
            *,
            {{ trim_ws("raw__" ~ c) }} as trim__{{ c }},
            {{ null_rule("raw__" ~ c) }} as null_rule__{{ c }}
        from joined
        where raw__{{ c }} is not null
    ) as {{ c }}_values
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from logged
where rule is not null or reason is not null
{%- endmacro %}


{#-
    The staging models' row flag, from what each step knows without reading the raw table again:

      values_trimmed(table), in the CTE after `trimmed`: some value of the row is not as exported
          after trimming (trimmed, or NULL as empty, blank or a sentinel): its raw__<clean> differs.
      may_have_changed(table, relation), in the final CTE (`relation`: the parse step's name when
          the final CTE joins other tables): values_trimmed, or a value that a rule of its kind
          changed or could not clean: a timestamp not in the strict ISO form (or any timestamp when
          source_timezone is not UTC) or invalid or out of range; a number not in the plain form or
          unparseable or out of range; a boolean that did not parse; folded and vocabulary columns
          always (their mapping happens in the final CTE itself).

    True for every row that _may_change lets through (and some more): value_changes reads only those.
-#}
{% macro values_trimmed(table, relation='trimmed') -%}
    ({%- for col in column_map(table) %}
        {{ "or " if not loop.first }}{{ relation }}.raw__{{ col.clean }} is distinct from {{ relation }}.{{ col.clean }}
    {%- endfor %})
{%- endmacro %}

{% macro may_have_changed(table, relation=none) -%}
    {%- set r = relation ~ '.' if relation else '' %}
    {%- set utc = var('source_timezone', 'UTC') | upper in ('UTC', 'ETC/UTC', 'Z', 'GMT') %}
    ({{ r }}values_trimmed
    {%- for col in column_map(table) %}
        {%- set c = r ~ col.clean %}
        {%- if col.kind in ('folded', 'vocabulary') %}
        or true
        {%- elif col.kind == 'timestamp' and utc %}
        or ({{ c }}__form is not null and ({{ c }}__form <> 'iso' or {{ timestamp_in_range(c) }} is null))
        {%- elif col.kind == 'timestamp' %}
        or {{ c }}__form is not null
        {%- elif col.kind == 'number' %}
        or ({{ c }} is not null and ({{ c }}__form is distinct from 'plain' or {{ c }}__number is null))
        {%- elif col.kind == 'boolean' %}
        or ({{ c }} is null and {{ r }}raw__{{ col.clean }} is not null)
        {%- endif %}
    {%- endfor %})
{%- endmacro %}


{#- Whether cleaning may have changed (or failed on) the present value `raw`, whose staging value is
    `clean`: cheap comparisons with what staging says, true for every value the rules below log (and
    for some they do not: they decide). A value kept as it was exported is equal to its clean value
    (text kinds), or in the strict ISO form (timestamps: iso_test) or digits with a '.' (numbers). -#}
{% macro _may_change(raw, clean, kind) -%}
    {{ raw }} is not null and (
    {%- if kind in ('text', 'folded') -%}
        {{ clean }} is null or {{ clean }} <> {{ raw }}
    {%- elif kind == 'vocabulary' -%}
        {{ clean }} is null or {{ clean }} <> {{ raw }} or {{ trim_ws(raw) }} <> {{ raw }}
    {%- elif kind == 'boolean' -%}
        {#- a boolean parsed from its text (Yes → true) is not logged: only a trim or a failure -#}
        {{ clean }} is null or {{ trim_ws(raw) }} <> {{ raw }}
    {%- elif kind == 'timestamp' -%}
        {%- if var('source_timezone', 'UTC') | upper not in ('UTC', 'ETC/UTC', 'Z', 'GMT') -%}
        true
        {%- else -%}
        {{ clean }}__form is distinct from 'iso' or {{ clean }}__failure is not null or not ({{ iso_test(raw) }})
        {%- endif -%}
    {%- elif kind == 'number' -%}
        {{ clean }} is null or {{ clean }}__form is distinct from 'plain' or translate({{ raw }}, '0123456789.', '') <> ''
    {%- endif -%})
{%- endmacro %}


{# The rule that changed a value, or NULL when it was kept as it was (or could not be cleaned). #}
{% macro _change_rule(c, kind) -%}
    case
        when null_rule__{{ c }} is not null then null_rule__{{ c }}
        when clean__{{ c }} is null then null
        {%- if kind == 'timestamp' %}
        when form__{{ c }} <> 'iso' then 'timestamp_' || form__{{ c }}
        {%- if var('source_timezone', 'UTC') | upper not in ('UTC', 'ETC/UTC', 'Z', 'GMT') %}
        when form__{{ c }} = 'iso' then 'timestamp_to_utc'
        {%- endif %}
        {%- elif kind == 'number' %}
        when form__{{ c }} = 'decimal_comma' then 'decimal_comma'
        when form__{{ c }} like 'thousands%' then 'thousands_separator'
        {%- elif kind == 'folded' %}
        when clean__{{ c }} <> trim__{{ c }} then 'case_folded'
        {%- elif kind == 'vocabulary' %}
        when clean__{{ c }} <> trim__{{ c }} then 'vocabulary_mapped'
        {%- endif %}
        when raw__{{ c }} <> trim__{{ c }} then 'trim'
    end
{%- endmacro %}


{# Why a present value could not be cleaned (the value is NULL in the marts), or NULL. #}
{% macro _failure_reason(c, kind) -%}
    {%- if kind == 'timestamp' -%}
    failure__{{ c }}
    {%- elif kind in ('number', 'boolean') -%}
    case
        when clean__{{ c }} is not null or null_rule__{{ c }} is not null then null
        {%- if kind == 'number' %}
        when form__{{ c }} is not null then 'number_out_of_range'
        {%- endif %}
        else 'unparseable_{{ kind }}'
    end
    {%- else -%}
    cast(null as varchar)
    {%- endif -%}
{%- endmacro %}
