-- Every value the cleaning changed: before, after and the rule that changed it.

with

changes as (
    select * from {{ ref('int_servicedesk__value_changes') }}
    where rule is not null
),

final as (
    select
        table_name,
        source_row,
        row_key,
        column_name,
        raw_value as before_value,
        clean_value as after_value,
        rule
    from changes
)

select * from final
