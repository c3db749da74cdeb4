{#-
    One row per value of `value_column` that its seed does not know (flag_column false), with its
    rows: configured as a warning, so a desk's own status is listed, not fatal (the run summary
    names each with its fix; unmapped_share_below halts past max_unmapped_share).
-#}
{% test unmapped_values(model, column_name, flag_column, value_column) %}
select {{ value_column }} as unmapped_value, count(*) as n_rows
from {{ model }}
where not {{ flag_column }}
group by 1
{% endtest %}
