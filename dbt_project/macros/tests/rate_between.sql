{#- Generic test: a rate (a fraction) lies between min_value and max_value (default 0 .. 1.5).
    Nulls pass (a rate is null when its denominator is unknown). -#}
{% test rate_between(model, column_name, min_value=0, max_value=1.5) %}
select {{ column_name }} as rate
from {{ model }}
where {{ column_name }} is not null
  and ({{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }})
{% endtest %}
