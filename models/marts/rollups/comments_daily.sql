-- Comments per day (UTC), author and visibility: what the comment-activity dashboard reads, so that
-- its panels read thousands of rows instead of every comment. Comments without created_at are left
-- out, as the dashboards' time filter leaves them out.

with

comments as (
    select * from {{ ref('comments') }}
),

final as (
    select
        {{ to_date('created_at') }} as day,
        author,
        is_customer_visible,
        count(*) as comments
    from comments
    where created_at is not null
    group by 1, 2, 3
)

select * from final
