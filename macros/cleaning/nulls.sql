{#-
    Missing values. An export says "missing" in many ways: NULL, '', '   ', 'N/A', '-', '#N/B'...
    The sentinel list is the project variable `sentinels` (dbt_project.yml), declared once;
    it is compared with the trimmed value, case-insensitively.
-#}

{% macro sentinel_list() -%}
    {{ return(quoted(var('sentinels') | map('lower') | list)) }}
{%- endmacro %}

{# The value trimmed, or NULL when it is NULL, empty, whitespace only, or a sentinel. #}
{% macro nullify(expr) -%}
    {#- later CTEs read the result many times: the CTE that calls this ends in computed_once() -#}
    {%- set edges = ['32', '9', '10', '13', '160'] -%}  {#- the code points trim_ws removes #}
    {%- set longest = var('sentinels') | map('length') | max -%}
    {%- set cleaned -%}
    case
        {#- the common case first: nothing to trim (a cheap look at both ends), so the value is
            compared with the sentinels as it is, and only when it is as short as one #}
        when {{ expr }} = '' then null
        when not {{ value_in('ascii(' ~ expr ~ ')', edges) }} and not {{ value_in('ascii(right(' ~ expr ~ ', 1))', edges) }}
            then case when length({{ expr }}) <= {{ longest }} and {{ value_in('lower(' ~ expr ~ ')', sentinel_list()) }}
                      then null else {{ expr }} end
        when {{ trim_ws(expr) }} = '' then null
        when {{ value_in('lower(' ~ trim_ws(expr) ~ ')', sentinel_list()) }} then null
        else {{ trim_ws(expr) }}
    end
    {%- endset -%}
    {{ cleaned }}
{%- endmacro %}

{# Why a raw value became NULL: empty_to_null, blank_to_null (whitespace only), sentinel_to_null; else NULL. #}
{% macro null_rule(raw) -%}
    case
        when {{ raw }} is null then null
        when {{ raw }} = '' then 'empty_to_null'
        when {{ trim_ws(raw) }} = '' then 'blank_to_null'
        when {{ value_in('lower(' ~ trim_ws(raw) ~ ')', sentinel_list()) }} then 'sentinel_to_null'
    end
{%- endmacro %}
