{#-
    Fails when more than max_share of the present values of a vocabulary (value_column, e.g. status)
    were not found in their seed (flag_column is false; the column tested holds the mapped value,
    NULL when unmapped). A few unmapped values only warn (unmapped_values).
-#}
{% test unmapped_share_below(model, column_name, flag_column, value_column=none, max_share=none) %}
{%- set limit = max_share if max_share is not none else var('max_unmapped_share') -%}
with

counts as (
    select
        count(case when not {{ flag_column }} then 1 end) as unmapped,
        count({{ value_column or column_name }}) as present
    from {{ model }}
)

select unmapped, present, {{ limit }} as max_share
from counts
where present > 0 and unmapped > {{ limit }} * present
{% endtest %}
