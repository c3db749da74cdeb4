{#- Fails for every value outside [min_value, max_value): a date column holds plausible timestamps. -#}
{% test timestamp_in_range(model, column_name, min_value=none, max_value=none) %}
{%- set lo = min_value or var('min_valid_timestamp') -%}
{%- set hi = max_value or var('max_valid_timestamp') -%}
select {{ column_name }} as out_of_range_value
from {{ model }}
where {{ column_name }} is not null
  and ({{ column_name }} < cast('{{ lo }}' as timestamp) or {{ column_name }} >= cast('{{ hi }}' as timestamp))
{% endtest %}
