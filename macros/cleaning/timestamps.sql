{#-
    Dates and timestamps. A staging model parses each timestamp column in steps, one CTE each, so
    that every engine reads each value once and the SQL stays small (each CTE ends in
    computed_once(), macros/engine.sql, so that PostgreSQL does not inline one step into the next):

    1. timestamp_shape(col): whether the value is in the common strict ISO form (col__iso, iso_test:
       a digit mask, no regex), the zone suffix of the value (col__zone) and its AM/PM marker
       (col__ampm); then, in a CTE of its own that joins date_order_join(col, raw_col),
       timestamp_body(col): the value without those suffixes (col__body), and the day/month order
       that the profile decided for the value's shape (col__day_first; see "Day and month" below).
    2. timestamp_canon(col) recognises the form of the (trimmed, non-missing) value and rewrites it
       as 'form|year|month|day|hour|minute|second|fraction|zone|ampm', or NULL when no form fits
       (an ISO value is just 'iso': it needs no rewriting).
    3. timestamp_parts(col) splits col__canon into typed part columns col__form, col__y, col__m, ...
       (an ISO value is cut at the fixed positions of its fields instead).
    4. timestamp_from_parts(col) validates the parts (month 1-12, day within the month, hour,
       minute, second) and builds the UTC timestamp; NULL when a part is out of range.
    5. timestamp_in_range(col): the timestamp, or NULL outside [min_valid_timestamp, max_valid_timestamp);
       timestamp_failure(col) says why a present value became NULL (the value log quarantines it).

    Forms (col__form; the value log's rule is 'timestamp_' || form for every form but iso):
      iso           2025-05-20, 2025-05-20 08:42, 2025-05-20 08:42:13[.123456789]      (kept as it is)
      iso_variant   2025-05-20T08:42:13Z, 2025-5-20 8:42, 2025/05/20, 2025-05-20T10:42:13.5+02:00,
                    2025-05-20 08:42:13+02 (PostgreSQL's own output), 2025-05-20 8:42 PM
      day_first     20/05/2025 8:42, 20-05-2025 08:42:13, 20.05.25, 4/5/2025 10:55:00 PM
      month_first   05/20/2025 08:42:13 PM, 5/20/25 8:42 pm, 5/20/2025, 8:42:13 PM, 01/23/2018
      month_name    20-May-2025, 20/May/25 8:42 AM (Jira), 20 September 2025 14:00,
                    May 20, 2025 8:42 PM, Tue, 20 May 2025 08:42:13 +0000 (RFC 2822), 20 May 2025 08:42 GMT
      excel_serial  45797 or 45797.3625: days since 1899-12-30, within [excel_serial_min, excel_serial_max];
                    rounded to the second, or to the millisecond when the serial has 8 or more decimals
    The time may follow the date after a space, a 'T' or ', '; seconds and a fraction (up to 9 digits,
    stored to the microsecond) are optional; a 12-hour clock ends in AM/PM (any case, with or without a
    space; 12 AM is midnight); a zone is Z, UTC, GMT, +HH:MM, +HHMM or +HH. Month names are English.
    Two-digit years are 20YY; four-digit years are taken as written.

    Day and month. Whether 04/05/2025 is the 4th of May or the 5th of April is decided per column
    and per shape (the separator and the clock: '/ 24h', '/ 12h', '- date'...; date_order_shape) by
    the profile, from the evidence of the whole export (orchestrator/profile/), and loaded with the
    raw tables as the source table `date_orders`. A shape the profile did not decide (an analyst's own
    raw data) is read with the project's `day_first`.

    Time zones. A value with a zone is converted to UTC with its offset. A naive value is read in the
    project's `source_timezone` (default 'UTC': taken as written) and converted to UTC. Every stored
    timestamp is UTC.
-#}

{% macro _time_pattern() -%}
    ([ T]|, )[0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,9})?)?( ?[AaPp][Mm]| ?(Z|UTC|GMT|[+-][0-9]{2}(:?[0-9]{2})?))?
{%- endmacro %}

{% macro _month_pattern() -%}
    (january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)
{%- endmacro %}

{% macro timestamp_patterns() -%}
    {%- set time = _time_pattern() -%}
    {%- set weekday = '((mon|tue|wed|thu|fri|sat|sun)[a-z]*,? )?' -%}
    {{ return({
        'iso_strict': '^[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?)?$',
        'iso_any': '^[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}(' ~ time ~ ')?$',
        'slashed': '^[0-9]{1,2}[-/.][0-9]{1,2}[-/.]([0-9]{4}|[0-9]{2})(' ~ time ~ ')?$',
        'named_dmy': '(?i)^' ~ weekday ~ '[0-9]{1,2}[-/ ]' ~ _month_pattern() ~ '[-/ ]([0-9]{4}|[0-9]{2})(' ~ time ~ ')?$',
        'named_mdy': '(?i)^' ~ weekday ~ _month_pattern() ~ ' [0-9]{1,2},? [0-9]{4}(' ~ time ~ ')?$',
        'excel': '^[0-9]{5}([.][0-9]{1,17})?$',
    }) }}
{%- endmacro %}

{#- The key of a value's day/month shape: the date separator and the clock ('/ 24h', '- 12h',
    '. date'). The profile computes the same key from the same value (profile.order_shape_key). -#}
{% macro date_order_shape(text) -%}
    (case when substr({{ text }}, 2, 1) in ('/', '-', '.') then substr({{ text }}, 2, 1) else substr({{ text }}, 3, 1) end
     || case when {{ ends_in_am_pm(text) }} then ' 12h'
             when {{ text }} like '%:%' then ' 24h' else ' date' end)
{%- endmacro %}

{#- Whether a text ends in AM or PM, in any case. upper() of the last two characters runs only for a
    text whose last character is an m or M: LIKE reads bytes, while right() and upper() count the
    characters of the value and copy it, and most values (ISO ones) end in a digit. -#}
{% macro ends_in_am_pm(t) -%}
    (({{ t }} like '%M' or {{ t }} like '%m') and upper(right({{ t }}, 2)) in ('AM', 'PM'))
{%- endmacro %}

{#- The profile's decision for column `raw_col` (as exported), joined per row on the value's shape,
    in the CTE after timestamp_shape(col). The model defines the CTE `date_orders` (the source table,
    filtered to its own table). Only a value that is not in the strict ISO form gets a shape (NULL
    joins nothing): the order matters only to a day/month/year value, and the shape costs several text
    tests per value. Scale 10, each model alone in psql, three interleaved runs, medians: timesheets
    7.41 → 6.94 s, comments 6.01 → 5.81 s, tickets 2.23 → 1.90 s; the same rows. -#}
{% macro date_order_join(col, raw_col, relation='shaped') -%}
    left join date_orders as {{ col }}__order
        on {{ col }}__order.column_name = '{{ raw_col }}'
        and {{ col }}__order.shape
            = case when not {{ relation }}.{{ col }}__iso then {{ date_order_shape(relation ~ '.' ~ col) }} end
{%- endmacro %}

{#- Whether a (trimmed) value is in the strict ISO form (form 'iso', iso_strict): by its digit mask, one
    translate() and a comparison, the cost of a cast; a regex only for the rare values with a fraction.
    The common form is recognised once, in step 1, and steps 1b-3 take it apart by fixed positions. -#}
{% macro iso_test(t) -%}
    case
        when translate({{ t }}, '123456789', '000000000') in ('0000-00-00', '0000-00-00 00:00', '0000-00-00 00:00:00')
            then true
        when {{ t }} like '____-__-__ __:__:__.%' then {{ regex_test(t, timestamp_patterns().iso_strict) }}
        else false
    end
{%- endmacro %}

{# Step 1: col__iso (iso_test), col__zone (the zone suffix as written, '' when none), col__ampm ('A', 'P' or ''). #}
{% macro timestamp_shape(col, relation='trimmed') -%}
    {%- set t = relation ~ '.' ~ col -%}
    {%- set zone -%}
        {#- a cheap test of the sign's position first: ISO values never reach a regex here; the
            strict ISO times (no fraction) not even the tests of the end, by two LIKEs of their
            shape (scale 10, stg_servicedesk__comments alone, psql, three interleaved runs: median
            7.2 → 6.3 s, the same rows). The shape's digits need no test here (a second translate()
            cost 0.4 µs a value): of the zones only a final Z fits those positions, after a minute or
            a second of one digit, and such a value is unparseable with or without its Z -#}
        case
            when {{ t }} not like '%:%' then ''
            when {{ t }} like '____-__-__ __:__' or {{ t }} like '____-__-__ __:__:__' then ''
            when {{ ends_in_am_pm(t) }} then ''
            when substr({{ t }}, length({{ t }}) - 5, 1) in ('+', '-')
             and {{ regex_test(t, ':[0-9]{2}([.,][0-9]+)? ?[+-][0-9]{2}:[0-9]{2}$') }} then right({{ t }}, 6)
            when substr({{ t }}, length({{ t }}) - 4, 1) in ('+', '-')
             and {{ regex_test(t, ':[0-9]{2}([.,][0-9]+)? ?[+-][0-9]{4}$') }} then right({{ t }}, 5)
            when substr({{ t }}, length({{ t }}) - 2, 1) in ('+', '-')
             and {{ regex_test(t, ':[0-9]{2}([.,][0-9]+)? ?[+-][0-9]{2}$') }} then right({{ t }}, 3)
            when upper(right({{ t }}, 3)) in ('UTC', 'GMT') then right({{ t }}, 3)
            when upper(right({{ t }}, 1)) = 'Z' then right({{ t }}, 1)
            else ''
        end
    {%- endset -%}
    {{ iso_test(t) }} as {{ col }}__iso,
    {{ zone }} as {{ col }}__zone,
    case when {{ ends_in_am_pm(t) }} then upper(left(right({{ t }}, 2), 1)) else '' end as {{ col }}__ampm
{%- endmacro %}

{#- Step 1b: col__body, the value without its zone and AM/PM suffixes and a leading weekday, ', ' as ' ';
    col__day_first, from date_order_join(col, raw_col) in the same CTE. -#}
{% macro timestamp_body(col, relation='shaped') -%}
    {%- set t = relation ~ '.' ~ col -%}
    {%- set suffix = "length(" ~ t ~ "__zone) + case when " ~ t ~ "__ampm <> '' then 2 else 0 end" -%}
    {%- set body = "replace(rtrim(left(" ~ t ~ ", length(" ~ t ~ ") - (" ~ suffix ~ "))), ', ', ' ')" -%}
    {%- set stripped -%}
        case
            when {{ t }} is null then null
            when {{ t }}__iso then {{ t }}
            when {{ value_in('lower(left(' ~ t ~ ', 3))', ["'mon'", "'tue'", "'wed'", "'thu'", "'fri'", "'sat'", "'sun'"]) }}
                then ltrim(substr({{ body }}, position(' ' in {{ body }})))
            else {{ body }}
        end
    {%- endset -%}
    {{ stripped }} as {{ col }}__body,
    coalesce({{ col }}__order.day_first, {{ 'true' if var('day_first') else 'false' }}) as {{ col }}__day_first
{%- endmacro %}

{% macro timestamp_canon(col) -%}
    {{ _timestamp_canon(col) }}
{%- endmacro %}

{#-
    Step 2. The canonical text without capture groups: once a plain regex match on the value has
    established the form, the separators of its body (- / . : space T ,) become '|' and split_part
    picks the fields. PostgreSQL's regex engine is about 25 times slower with capture groups than
    with a plain match; this way both engines only ever run plain matches.
-#}
{% macro _timestamp_canon(col) -%}
    {%- set p = timestamp_patterns() -%}
    {%- set iso_bars = "translate(" ~ col ~ "__body, '-/.: T,', '|||||||')" -%}
    {#- month names hold a T (OCT, AUGUST): their bars come without it -#}
    {%- set named_bars = "translate(" ~ col ~ "__body, '-/.: ', '|||||')" -%}
    {%- set tail = col ~ "__zone || '|' || " ~ col ~ "__ampm" -%}
    case
        when {{ col }}__iso then 'iso'  {#- taken apart by position in step 3 #}
        when {{ regex_test(col, p.iso_any) }}
            then {{ _canon_fields("'iso_variant'", iso_bars, [1, 2, 3], tail) }}
        when {{ regex_test(col, p.slashed) }} then
            case when {{ col }}__day_first
                then {{ _canon_fields("'day_first'", iso_bars, [3, 2, 1], tail) }}
                else {{ _canon_fields("'month_first'", iso_bars, [3, 1, 2], tail) }}
            end
        when {{ regex_test(col, p.named_dmy) }}
            then {{ _canon_fields("'month_name'", named_bars, [3, 'mon2', 1], tail) }}
        when {{ regex_test(col, p.named_mdy) }}
            then {{ _canon_fields("'month_name'", named_bars, [3, 'mon1', 2], tail) }}
        when {{ regex_test(col, p.excel) }}
            then 'excel_serial|' || {{ col }}
    end
{%- endmacro %}

{#- form|year|month|day|hour|minute|second|fraction|zone|ampm from bar-separated fields; date_order
    gives the field numbers of year, month and day ('monN': field N holds an English month name);
    time fields are 4 to 7. -#}
{% macro _canon_fields(form, bars, date_order, tail) -%}
    {{ form }}
    {%- for n in date_order + [4, 5, 6, 7] %} || '|' || {% if n is string -%}
        cast(cast((position(lower(left(split_part({{ bars }}, '|', {{ n[3:] }}), 3)) in 'janfebmaraprmayjunjulaugsepoctnovdec') + 2) / 3 as integer) as varchar)
    {%- else -%}
        split_part({{ bars }}, '|', {{ n }})
    {%- endif %}{% endfor %}
    || '|' || {{ tail }}
{%- endmacro %}

{#- Plain comparisons, not IN lists: DuckDB plans every IN list as a join of its own. -#}
{% macro _days_in_month(y, m) -%}
    case
        when {{ m }} = 2 then
            case when ({{ y }} % 4 = 0 and {{ y }} % 100 <> 0) or {{ y }} % 400 = 0 then 29 else 28 end
        when {{ m }} = 4 or {{ m }} = 6 or {{ m }} = 9 or {{ m }} = 11 then 30
        else 31
    end
{%- endmacro %}

{#- Step 3: the typed parts of canonical column `col`__canon, as columns col__form, col__y, ...; an ISO
    value (col__iso) by the fixed positions of its fields (YYYY-MM-DD HH:MI:SS.fff), no canon needed. -#}
{% macro timestamp_parts(col) -%}
    {%- set c = col ~ "__canon" -%}
    {%- set iso = col ~ "__iso" -%}
    {%- set is_serial = "split_part(" ~ c ~ ", '|', 1) = 'excel_serial'" -%}
    {%- set ampm = "split_part(" ~ c ~ ", '|', 10)" -%}
    {%- set zone = "upper(split_part(" ~ c ~ ", '|', 9))" -%}
    {%- set hour = "cast(nullif(split_part(" ~ c ~ ", '|', 5), '') as integer)" -%}
    {#- the parts are read many times by timestamp_from_parts: the CTE ends in computed_once() -#}
    case when {{ iso }} then 'iso' when {{ col }} is not null then coalesce(split_part({{ c }}, '|', 1), 'unparseable') end as {{ col }}__form,
    {#- a two-digit year is 20YY; a four-digit one (0001 included) is taken as written -#}
    cast(case when {{ iso }} then substr({{ col }}, 1, 4)
              when not {{ is_serial }}
              then (case when length(split_part({{ c }}, '|', 2)) = 2 then '20' else '' end)
                   || split_part({{ c }}, '|', 2) end as integer) as {{ col }}__y,
    {%- for name, n, at in [('m', 3, 6), ('d', 4, 9), ('mi', 6, 15), ('ss', 7, 18)] %}
    cast(case when {{ iso }} then nullif(substr({{ col }}, {{ at }}, 2), '')
              when not {{ is_serial }}
              then nullif(split_part({{ c }}, '|', {{ n }}), '') end as integer) as {{ col }}__{{ name }},
    {%- endfor %}
    {#- a 12-hour clock: 1-12 AM/PM (0 AM too), 12 AM is 0, 1 PM is 13; any other hour with AM/PM is invalid (99) -#}
    case
        when {{ iso }} then cast(nullif(substr({{ col }}, 12, 2), '') as integer)
        when {{ is_serial }} then null
        when {{ ampm }} = '' then {{ hour }}
        when {{ hour }} > 12 then 99
        when {{ ampm }} = 'P' and {{ hour }} < 12 then {{ hour }} + 12
        when {{ ampm }} = 'A' and {{ hour }} = 12 then 0
        else {{ hour }}
    end as {{ col }}__hh,
    case when {{ iso }} then coalesce(cast(nullif('0.' || substr({{ col }}, 21), '0.') as float8), 0)
         else coalesce(cast(nullif('0.' || split_part({{ c }}, '|', 8), '0.') as float8), 0) end as {{ col }}__frac,
    case when {{ iso }} then false else {{ zone }} <> '' end as {{ col }}__has_zone,
    case
        when {{ iso }} then 0
        when {{ zone }} like '+%' or {{ zone }} like '-%' then
            (case when {{ zone }} like '-%' then -1 else 1 end)
            * (cast(substr({{ zone }}, 2, 2) as integer) * 60
               + case when length({{ zone }}) > 3 then cast(right({{ zone }}, 2) as integer) else 0 end)
        else 0
    end as {{ col }}__zone_minutes,
    cast(case when not {{ iso }} and {{ is_serial }} then split_part({{ c }}, '|', 2) end as float8) as {{ col }}__serial,
    case when not {{ iso }} and {{ is_serial }} then length(split_part(split_part({{ c }}, '|', 2), '.', 2)) end as {{ col }}__serial_decimals
{%- endmacro %}

{#- A timestamp column whose values repeat (meta.parse per_value in the sources file: a work date, one
    value per day) is parsed once per distinct value, not once per row: steps 1-4 above run on the
    column's distinct trimmed values (the raw column's distinct values, then nullify()), and the parse
    step joins the result to the rows on the trimmed value (a NULL joins nothing and gets NULLs, as
    the steps give it). The same values as the steps row by row; the model's own timestamp steps
    leave such a column out (row_timestamps, macros/cleaning/column_map.sql). Scale 10, the
    timesheets' work date (1.4 M rows, 91 distinct values), stg_servicedesk__timesheets alone in
    psql, one core, twice each: 7.38 / 7.92 s row by row, 5.14 / 5.40 s per value; the same rows. A
    column of distinct values (the comments' created times) would only pay for the join. -#}
{% macro timestamps_per_value(table, relation='timestamp_parts') -%}
    {%- for col in column_map(table) if col.kind == 'timestamp' and col.parse == 'per_value' %}
    {%- set c = col.clean %}
    left join (
        select
            {{ c }} as {{ c }}__value,
            {{ timestamp_from_parts(c) }} as {{ c }}__timestamp,
            {{ c }}__form,
            {{ c }}__y
        from (
            select *, {{ timestamp_parts(c) }}
            from (
                select *, {{ timestamp_canon(c) }} as {{ c }}__canon
                from (
                    select shaped.*, {{ timestamp_body(c) }}
                    from (
                        select trimmed.{{ c }}, {{ timestamp_shape(c) }}
                        from (
                            select distinct {{ nullify(adapter.quote(col.raw)) }} as {{ c }}
                            from (select distinct {{ adapter.quote(col.raw) }} from {{ source('servicedesk', table) }}) as exported
                        ) as trimmed
                        where trimmed.{{ c }} is not null
                        {{ computed_once() }}
                    ) as shaped
                    {{ date_order_join(c, col.raw) }}
                    {{ computed_once() }}
                ) as stripped
                {{ computed_once() }}
            ) as canonical
            {{ computed_once() }}
        ) as timestamp_parts
    ) as {{ c }}__once
        on {{ c }}__once.{{ c }}__value = {{ relation }}.{{ c }}
    {%- endfor %}
{%- endmacro %}

{# A naive timestamp read in the project's source_timezone, as UTC (nothing to do for UTC). #}
{% macro local_to_utc(ts) -%}
    {%- set zone = var('source_timezone', 'UTC') -%}
    {%- if zone | upper in ('UTC', 'ETC/UTC', 'Z', 'GMT') -%}
        {{ ts }}
    {%- else -%}
        ((({{ ts }}) at time zone '{{ zone | replace("'", "''") }}') at time zone 'UTC')
    {%- endif -%}
{%- endmacro %}

{# Step 4: the timestamp (UTC) from the parts of `col`, or NULL. #}
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
    {#- Excel keeps a typed time as a binary fraction of a day: round it to what a person typed -#}
    {%- set serial_seconds -%}
        (case when {{ serial_ok }} then {{ col }}__serial else 25569 end - 25569) * 86400
    {%- endset -%}
    case
        when {{ serial_ok }} then
            {{ local_to_utc(epoch_to_timestamp(
                "case when " ~ col ~ "__serial_decimals >= 8 then round(" ~ serial_seconds ~ " * 1000) / 1000 "
                ~ "else round(" ~ serial_seconds ~ ") end")) }}
        when {{ valid }} then
            {#- the arguments are guarded as well where constant folding may evaluate this branch for
                invalid rows (engine.sql, guarded) -#}
            {%- set local = "make_timestamp(" ~ guarded(valid, y, "2000") ~ ", "
                ~ guarded(valid, m, "1") ~ ", "
                ~ guarded(valid, d, "1") ~ ", "
                ~ guarded(valid, hh, "0") ~ ", "
                ~ guarded(valid, mi, "0") ~ ", "
                ~ guarded(valid, ss ~ " + " ~ col ~ "__frac", "0") ~ ")" %}
            {%- if local_to_utc('x') == 'x' %}
            {#- naive values are UTC already; zone_minutes is 0 for them #}
            {{ add_minutes(local, "-" ~ col ~ "__zone_minutes") }}
            {%- else %}
            case when {{ col }}__has_zone then {{ add_minutes(local, "-" ~ col ~ "__zone_minutes") }}
                 else {{ local_to_utc(local) }} end
            {%- endif %}
    end
{%- endmacro %}

{# Step 5: the timestamp in `col`, or NULL when it lies outside the plausible range. #}
{% macro timestamp_in_range(col) -%}
    case
        when {{ col }} >= cast('{{ var("min_valid_timestamp") }}' as timestamp)
         and {{ col }} < cast('{{ var("max_valid_timestamp") }}' as timestamp)
        then {{ col }}
    end
{%- endmacro %}

{#
    Why a present timestamp value of `col` is NULL, from the parsed CTE's columns col (the timestamp
    before the range check), col__form and col__y: unparseable_timestamp (no form fits),
    timestamp_out_of_range (outside the plausible range, judged by the year when the date itself is
    invalid, or an Excel serial outside the serial range), invalid_timestamp (a part out of range:
    31/02, month 13, 13 PM); NULL when the value is clean or missing.
#}
{% macro timestamp_failure(col) -%}
    case
        when {{ col }}__form is null then null
        when {{ col }}__form = 'unparseable' then 'unparseable_timestamp'
        when {{ col }} is not null then
            case when {{ timestamp_in_range(col) }} is null then 'timestamp_out_of_range' end
        when {{ col }}__form = 'excel_serial' then 'timestamp_out_of_range'
        when {{ col }}__y < {{ var('min_valid_timestamp')[:4] | int }}
          or {{ col }}__y >= {{ var('max_valid_timestamp')[:4] | int }} then 'timestamp_out_of_range'
        else 'invalid_timestamp'
    end
{%- endmacro %}
