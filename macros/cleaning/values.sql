{#- Numbers and booleans, from trimmed, non-missing text (see nullify). -#}

{#-
    The forms of a number a spreadsheet or a database writes, each a plain regex test; the value is
    a float8, so every digit an export holds is kept (SQLite's REAL values reach the raw tables
    with the digits that round-trip, orchestrator/targets/):
      plain                 2, -0.5, +3, .25, 0.216666666666667, 1.5e-05, 1E3
      decimal_comma         1,5   -0,25   3871,691111
      thousands_separator   1,234.5   1,234,567   1.234,5   1.234.567   1 234,5
    A lone comma ('1,234') is a decimal comma: the reading European exports mean. Anything else
    (letters, two decimal separators, groups that are not three digits) is not a number: NULL.
    Overlong digit strings and exponents beyond 99 are refused rather than overflowing float8.
-#}
{% macro number_patterns() -%}
    {{ return({
        'plain': '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,2})?$',
        'decimal_comma': '^[+-]?[0-9]*,[0-9]+$',
        'thousands_comma': '^[+-]?[0-9]{1,3}(,[0-9]{3})+([.][0-9]+)?$',
        'thousands_dot': '^[+-]?[0-9]{1,3}([.][0-9]{3})+(,[0-9]+)?$',
        'thousands_space': '^[+-]?[0-9]{1,3}( [0-9]{3})+([.,][0-9]+)?$',
    }) }}
{%- endmacro %}

{# The form of a trimmed, non-missing number ('plain', 'decimal_comma', 'thousands_comma', ...), or NULL. #}
{% macro number_form(text) -%}
    {%- set p = number_patterns() -%}
    {%- set form -%}
    case
        when length({{ text }}) > 40 then null
        {#- the common form first, without a regex: digits with at most one '.' (2, 0.25, 1.) #}
        when translate({{ text }}, '0123456789.', '') = '' and {{ text }} not like '%.%.%' and {{ text }} <> '.'
            then 'plain'
        {%- for name in ['plain', 'decimal_comma', 'thousands_comma', 'thousands_dot', 'thousands_space'] %}
        when {{ regex_test(text, p[name]) }} then '{{ name }}'
        {%- endfor %}
    end
    {%- endset -%}
    {{ form }}
{%- endmacro %}

{# The float8 of `text` in number form `form` (number_form); NULL when the form is NULL. #}
{% macro number_from_form(text, form) -%}
    cast(case {{ form }}
        when 'plain' then {{ text }}
        when 'decimal_comma' then replace({{ text }}, ',', '.')
        when 'thousands_comma' then replace({{ text }}, ',', '')
        when 'thousands_dot' then replace(replace({{ text }}, '.', ''), ',', '.')
        when 'thousands_space' then replace(replace({{ text }}, ' ', ''), ',', '.')
    end as float8)
{%- endmacro %}

{# `number` (a float8) when its absolute value is below var('max_valid_number'), else NULL: a value
   beyond it is no measure of work (1e15 hours), and the marts' sums of it would overflow. Clamped to
   [-max, max], then the bounds nulled: `number`, a cast, is evaluated once (a CASE would cast twice;
   a NULL clamps to -max, so it stays NULL). #}
{% macro number_in_range(number) -%}
    {%- set m = var('max_valid_number') -%}
    nullif(nullif(least(greatest({{ number }}, -({{ m }})), {{ m }}), {{ m }}), -({{ m }}))
{%- endmacro %}

{# A number as float8; NULL when the text is none of the forms above. #}
{% macro parse_number(text) -%}
    {{ number_from_form(text, number_form(text)) }}
{%- endmacro %}

{% macro boolean_tokens() -%}
    {{ return({'true': ['true', 't', 'yes', 'y', '1', 'ja', 'j', 'on'],
               'false': ['false', 'f', 'no', 'n', '0', 'nee', 'off']}) }}
{%- endmacro %}

{# true/false from the usual spellings (yes/no, y/n, 1/0, true/false, ja/nee); NULL otherwise. #}
{% macro parse_boolean(text) -%}
    {%- set tokens = boolean_tokens() -%}
    case
        when {{ value_in('lower(' ~ text ~ ')', quoted(tokens.true)) }} then true
        when {{ value_in('lower(' ~ text ~ ')', quoted(tokens.false)) }} then false
    end
{%- endmacro %}
