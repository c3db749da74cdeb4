{#-
    Dates and timestamps, parsed in two steps so that every engine reads each value once:

    1. timestamp_canon(text) recognises the form of a (trimmed, non-missing) value and rewrites it
       as 'form|year|month|day|hour|minute|second|fraction|zone', or NULL when no form fits.
    2. timestamp_parts(col) splits that canonical text into typed part columns col__y, col__m, ...
    3. timestamp_from_parts(col) validates the parts (month 1-12, day within the month, hour,
       minute, second) and builds the timestamp; NULL when a part is out of range.
    4. timestamp_in_range(col): the timestamp, or NULL outside [min_valid_timestamp, max_valid_timestamp).
    Each step is one CTE of the model, so every engine reads each value once and the SQL stays small.

    Forms (the first field):
      iso           2025-05-20, 2025-05-20 08:42, 2025-05-20 08:42:13[.123]        (no change)
      iso_variant   2025-05-20T08:42:13Z, 2025-5-20 8:42, 2025/05/20, offsets +02:00 (converted to UTC)
      day_first     20/05/2025 8:42, 20-05-2025 08:42:13, 20.05.25, 4/5/2025       (var day_first: true)
      month_first   5/20/2025 8:42 ...                                              (var day_first: false)
      excel_serial  45797 or 45797.3625: days since 1899-12-30, within [excel_serial_min, excel_serial_max]
    Two-digit years are 20YY.
-#}

{% macro timestamp_patterns() -%}
    {{ return({
        'iso_strict': '^[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?)?$',
        'iso_any': '^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?:[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?)? ?(Z|[+-][0-9]{2}:?[0-9]{2})?$',
        'slashed': '^([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4}|[0-9]{2})(?:[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?)?$',
        'excel': '^[0-9]{5}([.][0-9]{1,12})?$',
    }) }}
{%- endmacro %}

{# The form name of a trimmed, non-missing value, or NULL when no supported form fits. #}
{% macro timestamp_form(text) -%}
    {%- set p = timestamp_patterns() -%}
    case
        when {{ regex_test(text, p.iso_strict) }} then 'iso'
        when {{ regex_test(text, p.iso_any) }} then 'iso_variant'
        when {{ regex_test(text, p.slashed) }} then '{{ "day_first" if var("day_first") else "month_first" }}'
        when {{ regex_test(text, p.excel) }} then 'excel_serial'
    end
{%- endmacro %}

{% macro timestamp_canon(text) -%}
    {{ evaluate_once(_timestamp_canon(text)) }}
{%- endmacro %}

{% macro _timestamp_canon(text) -%}
    {%- set p = timestamp_patterns() -%}
    case
        when {{ regex_test(text, p.iso_strict) }}
            then regexp_replace({{ text }}, '{{ p.iso_any }}', 'iso|\1|\2|\3|\4|\5|\6|\7|\8')
        when {{ regex_test(text, p.iso_any) }}
            then regexp_replace({{ text }}, '{{ p.iso_any }}', 'iso_variant|\1|\2|\3|\4|\5|\6|\7|\8')
        when {{ regex_test(text, p.slashed) }}
        {%- if var('day_first') %}
            then regexp_replace({{ text }}, '{{ p.slashed }}', 'day_first|\3|\2|\1|\4|\5|\6|\7|')
        {%- else %}
            then regexp_replace({{ text }}, '{{ p.slashed }}', 'month_first|\3|\1|\2|\4|\5|\6|\7|')
        {%- endif %}
        when {{ regex_test(text, p.excel) }}
            then 'excel_serial|' || {{ text }}
    end
{%- endmacro %}

{% macro _days_in_month(y, m) -%}
    case
        when {{ m }} in (1, 3, 5, 7, 8, 10, 12) then 31
        when {{ m }} in (4, 6, 9, 11) then 30
        when ({{ y }} % 4 = 0 and {{ y }} % 100 <> 0) or {{ y }} % 400 = 0 then 29
        else 28
    end
{%- endmacro %}

{# Step 2: the typed parts of canonical column `col`, as columns col__form, col__y, ... #}
{% macro timestamp_parts(col) -%}
    {#- evaluate_once: the parts are read many times by timestamp_from_parts; compute them once #}
    {{ evaluate_once("split_part(" ~ col ~ ", '|', 1)") }} as {{ col }}__form,
    {%- for name, n in [('y', 2), ('m', 3), ('d', 4), ('hh', 5), ('mi', 6), ('ss', 7)] %}
    cast(case when split_part({{ col }}, '|', 1) <> 'excel_serial'
              then nullif(split_part({{ col }}, '|', {{ n }}), '') end as integer) as {{ col }}__{{ name }},
    {%- endfor %}
    coalesce(cast(nullif('0.' || split_part({{ col }}, '|', 8), '0.') as float8), 0) as {{ col }}__frac,
    case
        when split_part({{ col }}, '|', 9) like '+%' or split_part({{ col }}, '|', 9) like '-%' then
            (case when split_part({{ col }}, '|', 9) like '-%' then -1 else 1 end)
            * (cast(substr(split_part({{ col }}, '|', 9), 2, 2) as integer) * 60
               + cast(right(split_part({{ col }}, '|', 9), 2) as integer))
        else 0
    end as {{ col }}__zone_minutes,
    cast(case when split_part({{ col }}, '|', 1) = 'excel_serial'
              then split_part({{ col }}, '|', 2) end as float8) as {{ col }}__serial
{%- endmacro %}

{# Step 3: the timestamp (UTC when the value had a zone) from the parts of `col`, or NULL. #}
{% macro timestamp_from_parts(col) -%}
    {%- set y = "(case when " ~ col ~ "__y < 100 then 2000 + " ~ col ~ "__y else " ~ col ~ "__y end)" -%}
    {%- set m = col ~ "__m" -%}
    {%- set d = col ~ "__d" -%}
    {%- set hh = "coalesce(" ~ col ~ "__hh, 0)" -%}
    {%- set mi = "coalesce(" ~ col ~ "__mi, 0)" -%}
    {%- set ss = "coalesce(" ~ col ~ "__ss, 0)" -%}
    {%- set valid -%}
        ({{ m }} between 1 and 12 and {{ d }} between 1 and {{ _days_in_month(y, m) }}
         and {{ hh }} <= 23 and {{ mi }} <= 59 and {{ ss }} <= 59)
    {%- endset -%}
    {%- set serial_ok -%}
        ({{ col }}__serial between {{ var('excel_serial_min') }} and {{ var('excel_serial_max') }})
    {%- endset -%}
    case
        when {{ serial_ok }} then
            {{ epoch_to_timestamp("(case when " ~ serial_ok ~ " then " ~ col ~ "__serial else 25569 end - 25569) * 86400") }}
        when {{ valid }} then
            {#- the arguments are guarded as well: constant folding may evaluate this branch for invalid rows -#}
            {{ add_minutes(
                "make_timestamp(case when " ~ valid ~ " then " ~ y ~ " else 2000 end, "
                ~ "case when " ~ valid ~ " then " ~ m ~ " else 1 end, "
                ~ "case when " ~ valid ~ " then " ~ d ~ " else 1 end, "
                ~ "case when " ~ valid ~ " then " ~ hh ~ " else 0 end, "
                ~ "case when " ~ valid ~ " then " ~ mi ~ " else 0 end, "
                ~ "case when " ~ valid ~ " then " ~ ss ~ " + " ~ col ~ "__frac else 0 end)",
                "-" ~ col ~ "__zone_minutes") }}
    end
{%- endmacro %}

{# Step 4: the timestamp in `col`, or NULL when it lies outside the plausible range. #}
{% macro timestamp_in_range(col) -%}
    case
        when {{ col }} >= cast('{{ var("min_valid_timestamp") }}' as timestamp)
         and {{ col }} < cast('{{ var("max_valid_timestamp") }}' as timestamp)
        then {{ col }}
    end
{%- endmacro %}

{#
    Why a present timestamp value could not be cleaned: unparseable_timestamp (no form fits),
    timestamp_out_of_range (a date outside the plausible range, judged by its year, or an Excel
    serial outside the serial range), invalid_timestamp (a part out of range: 31/02, month 13).
#}
{% macro timestamp_failure(text) -%}
    {%- set canon = _timestamp_canon(text) -%}
    {%- set year_part = "cast(split_part(" ~ canon ~ ", '|', 2) as integer)" -%}
    {%- set year = "(case when " ~ year_part ~ " < 100 then 2000 + " ~ year_part ~ " else " ~ year_part ~ " end)" -%}
    case
        when not ({{ regex_test(text, timestamp_patterns().iso_any) }} or {{ regex_test(text, timestamp_patterns().slashed) }}
                  or {{ regex_test(text, timestamp_patterns().excel) }}) then 'unparseable_timestamp'
        when split_part({{ canon }}, '|', 1) = 'excel_serial' then 'timestamp_out_of_range'
        when {{ year }} < {{ var('min_valid_timestamp')[:4] | int }}
          or {{ year }} >= {{ var('max_valid_timestamp')[:4] | int }}
            then 'timestamp_out_of_range'
        else 'invalid_timestamp'
    end
{%- endmacro %}
