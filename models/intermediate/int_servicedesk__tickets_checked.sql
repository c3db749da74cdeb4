-- Each cleaned ticket row with the reason it cannot enter the marts, if any:
-- missing_key (no ticket id) or duplicate_key (an earlier source row has the same id; the first wins).

with

tickets as (
    select * from {{ ref('stg_servicedesk__tickets') }}
),

ranked as (
    select
        *,
        row_number() over (partition by ticket_id order by source_row) as key_rank
    from tickets
),

final as (
    select
        *,
        case
            when ticket_id is null then 'missing_key'
            when key_rank > 1 then 'duplicate_key'
        end as exclusion_reason
    from ranked
)

select * from final
