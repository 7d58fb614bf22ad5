{#- Generic test: a reference figure's status starts with one of the status words of
    shared/reference/README.md (confirmed, from_article, derived, unconfirmed), so that a derived or
    unconfirmed figure can never pass for an official one. Nulls pass (no figure, no status). -#}
{% test status_word(model, column_name, words=['confirmed', 'from_article', 'derived', 'unconfirmed']) %}
select {{ column_name }} as status
from {{ model }}
where {{ column_name }} is not null
  and not ({% for word in words %}{{ column_name }} like '{{ word }}%'{% if not loop.last %} or {% endif %}{% endfor %})
{% endtest %}
