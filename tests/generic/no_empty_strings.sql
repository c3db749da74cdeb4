{#- Fails for every value that is empty, whitespace only, or a sentinel left uncleaned. -#}
{% test no_empty_strings(model, column_name) %}
select {{ column_name }} as uncleaned_value
from {{ model }}
where {{ trim_ws(column_name) }} = ''
   or {{ value_in('lower(' ~ trim_ws(column_name) ~ ')', sentinel_list()) }}
   or {{ column_name }} <> {{ trim_ws(column_name) }}
{% endtest %}
