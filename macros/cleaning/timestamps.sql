{#-
    Dates and timestamps, parsed in two steps so that every engine reads each value once:

    1. timestamp_canon(text) recognises the form of a (trimmed, non-missing) value and rewrites it
       as 'form|year|month|day|hour|minute|second|fraction|zone', or NULL when no form fits.
       Models compute it from an already trimmed column: `timestamp_canon('created_at') as created_at__canon`.
    2. timestamp_parts(col) splits col__canon into typed part columns col__y, col__m, ...
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

{#-
    The canonical text without capture groups: once a plain regex match has established the form,
    the separators (- / . : space T ,) become '|' and split_part picks the fields. PostgreSQL's regex
    engine is about 25 times slower with capture groups than with a plain match; this way both
    engines only ever run plain matches.
-#}
{% macro _timestamp_canon(text) -%}
    {%- set p = timestamp_patterns() -%}
    {%- set zone -%}
        (case
            when {{ regex_test(text, '[+-][0-9]{2}:[0-9]{2}$') }} then right({{ text }}, 6)
            when {{ regex_test(text, '[+-][0-9]{4}$') }} then right({{ text }}, 5)
            when {{ text }} like '%Z' then 'Z'
            else ''
        end)
    {%- endset -%}
    {%- set body = "rtrim(left(" ~ text ~ ", length(" ~ text ~ ") - length(" ~ zone ~ ")))" -%}
    case
        when {{ regex_test(text, p.iso_strict) }}
            then {{ _canon_fields("'iso'", _separators_to_bars(text), [1, 2, 3], "''") }}
        when {{ regex_test(text, p.iso_any) }}
            then {{ _canon_fields("'iso_variant'", _separators_to_bars(body), [1, 2, 3], zone) }}
        when {{ regex_test(text, p.slashed) }}
        {%- if var('day_first') %}
            then {{ _canon_fields("'day_first'", _separators_to_bars(text), [3, 2, 1], "''") }}
        {%- else %}
            then {{ _canon_fields("'month_first'", _separators_to_bars(text), [3, 1, 2], "''") }}
        {%- endif %}
        when {{ regex_test(text, p.excel) }}
            then 'excel_serial|' || {{ text }}
    end
{%- endmacro %}

{% macro _separators_to_bars(text) -%}
    translate({{ text }}, '-/.: T,', '|||||||')
{%- endmacro %}

{#- form|year|month|day|hour|minute|second|fraction|zone from bar-separated fields; date_order gives
    the field numbers of year, month and day; time fields are 4 to 7. -#}
{% macro _canon_fields(form, bars, date_order, zone) -%}
    {{ form }}
    {%- for n in date_order + [4, 5, 6, 7] %} || '|' || split_part({{ bars }}, '|', {{ n }}){% endfor %}
    || '|' || {{ zone }}
{%- endmacro %}

{% macro _days_in_month(y, m) -%}
    case
        when {{ m }} in (1, 3, 5, 7, 8, 10, 12) then 31
        when {{ m }} in (4, 6, 9, 11) then 30
        when ({{ y }} % 4 = 0 and {{ y }} % 100 <> 0) or {{ y }} % 400 = 0 then 29
        else 28
    end
{%- endmacro %}

{# Step 2: the typed parts of canonical column `col`__canon, as columns col__form, col__y, ... #}
{% macro timestamp_parts(col) -%}
    {#- evaluate_once: the parts are read many times by timestamp_from_parts; compute them once #}
    {{ evaluate_once("split_part(" ~ col ~ "__canon, '|', 1)") }} as {{ col }}__form,
    {#- a two-digit year is 20YY; a four-digit one (0001 included) is taken as written -#}
    cast(case when split_part({{ col }}__canon, '|', 1) <> 'excel_serial'
              then (case when length(split_part({{ col }}__canon, '|', 2)) = 2 then '20' else '' end)
                   || split_part({{ col }}__canon, '|', 2) end as integer) as {{ col }}__y,
    {%- for name, n in [('m', 3), ('d', 4), ('hh', 5), ('mi', 6), ('ss', 7)] %}
    cast(case when split_part({{ col }}__canon, '|', 1) <> 'excel_serial'
              then nullif(split_part({{ col }}__canon, '|', {{ n }}), '') end as integer) as {{ col }}__{{ name }},
    {%- endfor %}
    coalesce(cast(nullif('0.' || split_part({{ col }}__canon, '|', 8), '0.') as float8), 0) as {{ col }}__frac,
    case
        when split_part({{ col }}__canon, '|', 9) like '+%' or split_part({{ col }}__canon, '|', 9) like '-%' then
            (case when split_part({{ col }}__canon, '|', 9) like '-%' then -1 else 1 end)
            * (cast(substr(split_part({{ col }}__canon, '|', 9), 2, 2) as integer) * 60
               + cast(right(split_part({{ col }}__canon, '|', 9), 2) as integer))
        else 0
    end as {{ col }}__zone_minutes,
    cast(case when split_part({{ col }}__canon, '|', 1) = 'excel_serial'
              then split_part({{ col }}__canon, '|', 2) end as float8) as {{ col }}__serial
{%- endmacro %}

{# Step 3: the timestamp (UTC when the value had a zone) from the parts of `col`, or NULL. #}
{% macro timestamp_from_parts(col) -%}
    {%- set y = col ~ "__y" -%}
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
            {#- the arguments are guarded as well where constant folding may evaluate this branch for
                invalid rows (engine.sql, guarded) -#}
            {{ add_minutes(
                "make_timestamp(" ~ guarded(valid, y, "2000") ~ ", "
                ~ guarded(valid, m, "1") ~ ", "
                ~ guarded(valid, d, "1") ~ ", "
                ~ guarded(valid, hh, "0") ~ ", "
                ~ guarded(valid, mi, "0") ~ ", "
                ~ guarded(valid, ss ~ " + " ~ col ~ "__frac", "0") ~ ")",
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
    {%- set year = "(case when length(split_part(" ~ canon ~ ", '|', 2)) = 2 then 2000 + " ~ year_part ~ " else " ~ year_part ~ " end)" -%}
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
