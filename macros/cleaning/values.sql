{#- Numbers and booleans, from trimmed, non-missing text (see nullify). -#}

{# A number; the decimal separator may be a point or a comma ('1,5'). NULL when it is not a number. #}
{% macro parse_number(text, type='numeric(18,4)') -%}
    cast(case when {{ regex_test(text, '^[+-]?[0-9]{1,12}([.,][0-9]{1,6})?$') }} then replace({{ text }}, ',', '.') end as {{ type }})
{%- endmacro %}

{% macro boolean_tokens() -%}
    {{ return({'true': ['true', 't', 'yes', 'y', '1', 'ja', 'j', 'on'],
               'false': ['false', 'f', 'no', 'n', '0', 'nee', 'off']}) }}
{%- endmacro %}

{# true/false from the usual spellings (yes/no, y/n, 1/0, true/false, ja/nee); NULL otherwise. #}
{% macro parse_boolean(text) -%}
    {%- set tokens = boolean_tokens() -%}
    case
        when lower({{ text }}) in ('{{ tokens.true | join("', '") }}') then true
        when lower({{ text }}) in ('{{ tokens.false | join("', '") }}') then false
    end
{%- endmacro %}
