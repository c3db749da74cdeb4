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
