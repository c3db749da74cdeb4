{#- Fails for every value that is empty, whitespace only, or a sentinel left uncleaned: a value with
    a trimmable character at either end (it was left untrimmed, or it is whitespace only), or empty,
    or a sentinel. A value with nothing to trim is its own trimmed value, so this is the test on the
    trimmed value, without trimming every value (macros/cleaning/nulls.sql). -#}
{% test no_empty_strings(model, column_name) %}
select {{ column_name }} as uncleaned_value
from {{ model }}
where {{ column_name }} = ''
   or {{ ws_at_an_end(column_name) }}
   or {{ is_sentinel_as_is(column_name) }}
{% endtest %}
