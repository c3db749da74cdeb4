-- One row per source row of the comments export, cleaned (see stg_servicedesk__tickets).
{%- set timestamps = row_timestamps('comments') %}

with

source as (
    select * from {{ source('servicedesk', 'comments') }}
),

date_orders as (
    select * from {{ source('servicedesk', 'date_orders') }}
    where table_name = 'comments'
),

trimmed as (
    select
        source_row,
        {{- trimmed_columns('comments') }}
    from source
    {{ computed_once() }}
),

shaped as (
    select
        trimmed.*,
        {{ values_trimmed('comments') }} as values_trimmed
        {{- number_forms('comments') }}
        {%- for col in timestamps %},
        {{ timestamp_shape(col) }}
        {%- endfor %}
    from trimmed
    {{ computed_once() }}
),

stripped as (
    select
        shaped.*
        {%- for col in timestamps %},
        {{ timestamp_body(col) }}
        {%- endfor %}
    from shaped
    {%- for col in timestamps %}
    {{ date_order_join(col, raw_column('comments', col)) }}
    {%- endfor %}
    {{ computed_once() }}
),

canonical as (
    select
        *
        {%- for col in timestamps %},
        {{ timestamp_canon(col) }} as {{ col }}__canon
        {%- endfor %}
    from stripped
    {{ computed_once() }}
),

timestamp_parts as (
    select
        *
        {%- for col in timestamps %},
        {{ timestamp_parts(col) }}
        {%- endfor %}
    from canonical
    {{ computed_once() }}
),

parsed as (
    select
        source_row,
        values_trimmed,
        {{- parsed_columns('comments') }}
    from timestamp_parts
    {{- timestamps_per_value('comments') }}
    {{ computed_once() }}
),

final as (
    select
        source_row,
        comment_id,
        ticket_id,
        author,
        body,
        is_customer_visible,
        {{- checked_columns('comments') }},
        {{ may_have_changed('comments') }} as may_have_changed,
        -- the key and the ticket reference as exported, for the quarantine (marts/quarantine.sql) of a
        -- row excluded on one of them
        raw__comment_id,
        raw__ticket_id
    from parsed
)

select * from final
