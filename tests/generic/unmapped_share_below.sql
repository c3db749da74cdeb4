{#-
    Fails when more than max_share of the non-null values of a vocabulary column were not found in
    their mapping seed (flag_column is false). A few unmapped values only warn (see the models' YAML).
-#}
{% test unmapped_share_below(model, column_name, flag_column, max_share=none) %}
{%- set limit = max_share if max_share is not none else var('max_unmapped_share') -%}
with

counts as (
    select
        count(case when not {{ flag_column }} then 1 end) as unmapped,
        count({{ column_name }}) as present
    from {{ model }}
)

select unmapped, present, {{ limit }} as max_share
from counts
where present > 0 and unmapped > {{ limit }} * present
{% endtest %}
