{# Lunar New Year (Tết Nguyên Đán) day 1, 2018-2030: collections stop around it, so anomaly
   baselines leave out and never flag the days from 10 before to 10 after. #}
{% macro tet_dates() %}
    (values
        (date '2018-02-16'), (date '2019-02-05'), (date '2020-01-25'), (date '2021-02-12'),
        (date '2022-02-01'), (date '2023-01-22'), (date '2024-02-10'), (date '2025-01-29'),
        (date '2026-02-17'), (date '2027-02-06'), (date '2028-01-26'), (date '2029-02-13'),
        (date '2030-02-03')
    ) as tet (tet_day)
{% endmacro %}
