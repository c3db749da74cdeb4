{#-
    Missing values. An export says "missing" in many ways: NULL, '', '   ', 'N/A', '-', '#N/B'...
    The sentinel list is the project variable `sentinels` (dbt_project.yml), declared once;
    it is compared with the trimmed value, case-insensitively.
-#}

{% macro sentinel_list() -%}
    {{ return(quoted(var('sentinels') | map('lower') | list)) }}
{%- endmacro %}

{#- Cheap tests that spare most values a trim: whether `expr` starts or ends with a character
    trim_ws removes (two ascii() calls), and whether it is a sentinel as it stands (compared only
    when it is no longer than the longest sentinel). A value with nothing to trim at either end is
    its own trimmed value, so for it these two answer what the trimmed tests would. -#}
{% macro ws_at_an_end(expr) -%}
    {%- set edges = ['32', '9', '10', '13', '160'] -%}  {#- the code points trim_ws removes #}
    ({{ value_in('ascii(' ~ expr ~ ')', edges) }} or {{ value_in('ascii(right(' ~ expr ~ ', 1))', edges) }})
{%- endmacro %}

{% macro is_sentinel_as_is(expr) -%}
    (length({{ expr }}) <= {{ var('sentinels') | map('length') | max }} and {{ value_in('lower(' ~ expr ~ ')', sentinel_list()) }})
{%- endmacro %}

{# The value trimmed, or NULL when it is NULL, empty, whitespace only, or a sentinel. #}
{% macro nullify(expr) -%}
    {#- later CTEs read the result many times: the CTE that calls this ends in computed_once() -#}
    case
        {#- the common case first: nothing to trim, so the value is compared with the sentinels as it is #}
        when {{ expr }} = '' then null
        when not {{ ws_at_an_end(expr) }}
            then case when {{ is_sentinel_as_is(expr) }} then null else {{ expr }} end
        when {{ trim_ws(expr) }} = '' then null
        when {{ value_in('lower(' ~ trim_ws(expr) ~ ')', sentinel_list()) }} then null
        else {{ trim_ws(expr) }}
    end
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
