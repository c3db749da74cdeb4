{#-
    Fails when the share of a source table's rows with anything in quarantine exceeds max_share
    (the variable max_quarantined_share by default). Returns one row with the figures.
-#}
{% test quarantined_share_below(model, source_table, max_share=none) %}
{%- set limit = max_share if max_share is not none else var('max_quarantined_share') -%}
with

source_rows as (
    select count(*) as n from {{ source('servicedesk', source_table) }}
),

quarantined as (
    select count(distinct source_row) as n
    from {{ ref('quarantine') }}
    where table_name = '{{ source_table }}'
)

select
    '{{ source_table }}' as table_name,
    quarantined.n as quarantined_rows,
    source_rows.n as source_rows,
    {{ limit }} as max_share
from source_rows
cross join quarantined
where source_rows.n > 0 and quarantined.n > {{ limit }} * source_rows.n
{% endtest %}
