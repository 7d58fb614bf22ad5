-- Receipts that count: rows of raw.receipts whose file version has status 'loaded'.
-- Superseded, quarantined, rejected (and merely landed) files never count.
-- Each receipt gets the province its file's code meant on the file's report date.
-- The current part of int_receipts__versions (a view: filters on its indexed columns reach it).

select * from {{ ref('int_receipts__versions') }}
where counted_until is null
