{#-
    The cleaning log, in long form: one row per value that cleaning changed or could not clean.

    value_changes(table_name, source_relation, staging_relation, key, columns) compares each raw
    value with its cleaned value, row by row (joined on source_row), and returns
      table_name, source_row, row_key, column_name, raw_value, clean_value, rule, reason
    where `rule` names the change (audit_changes) and `reason` why a value could not be cleaned
    (quarantine). Unchanged values are not listed.

    columns: a list of [clean column, raw column, kind]; kinds:
      text        trimmed; empty, blank and sentinel values to NULL
      vocabulary  text, then mapped to a canonical value (seeds/*_map.csv)
      timestamp   text, then parsed (macros/cleaning/timestamps.sql)
      number      text, then parsed; a decimal comma is accepted
      boolean     text, then parsed (macros/cleaning/values.sql)
-#}

{% macro value_changes(table_name, source_relation, staging_relation, key, columns) -%}
with

joined as (
    select
        raw.source_row,
        stg.{{ key }} as row_key,
        {%- for col in columns %}
        raw."{{ col[1] }}" as raw__{{ col[0] }},
        stg.{{ col[0] }} as clean__{{ col[0] }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ source_relation }} as raw
    inner join {{ staging_relation }} as stg on raw.source_row = stg.source_row
),

logged as (
    {%- for col in columns %}
    {%- set raw = "raw__" ~ col[0] %}
    {%- set clean = "clean__" ~ col[0] %}
    {%- set kind = col[2] %}
    select
        '{{ table_name }}' as table_name,
        source_row,
        row_key,
        '{{ col[0] }}' as column_name,
        {{ raw }} as raw_value,
        cast({{ clean }} as varchar) as clean_value,
        {{ _change_rule(raw, clean, kind) }} as rule,
        {{ _failure_reason(raw, clean, kind) }} as reason
    from joined
    where {{ raw }} is not null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from logged
where rule is not null or reason is not null
{%- endmacro %}


{# The rule that changed a value, or NULL when it was kept as it was (or could not be cleaned). #}
{% macro _change_rule(raw, clean, kind) -%}
    case
        when {{ null_rule(raw) }} is not null then {{ null_rule(raw) }}
        when {{ clean }} is null then null
        {%- if kind == 'timestamp' %}
        when {{ timestamp_form(trim_ws(raw)) }} <> 'iso' then 'timestamp_' || {{ timestamp_form(trim_ws(raw)) }}
        {%- elif kind == 'number' %}
        when {{ trim_ws(raw) }} like '%,%' then 'decimal_comma'
        {%- elif kind == 'vocabulary' %}
        when {{ clean }} <> {{ trim_ws(raw) }} then 'vocabulary_mapped'
        {%- endif %}
        when {{ raw }} <> {{ trim_ws(raw) }} then 'trim'
    end
{%- endmacro %}


{# Why a present value could not be cleaned (the value is NULL in the marts), or NULL. #}
{% macro _failure_reason(raw, clean, kind) -%}
    {%- if kind in ('timestamp', 'number', 'boolean') -%}
    case
        when {{ clean }} is not null or {{ null_rule(raw) }} is not null then null
        {%- if kind == 'timestamp' %}
        else {{ timestamp_failure(trim_ws(raw)) }}
        {%- elif kind == 'number' %}
        else 'unparseable_number'
        {%- else %}
        else 'unparseable_boolean'
        {%- endif %}
    end
    {%- else -%}
    cast(null as varchar)
    {%- endif -%}
{%- endmacro %}
