-- Raw layer: what the pipeline loads (COPY) and records. dbt reads it as sources.
-- Idempotent: safe to run at every start.
create schema if not exists raw;

-- One row per fetched report file version (the landing manifest).
create table if not exists raw.report_files (
    file_id           bigint generated always as identity primary key,
    province_code     text        not null,  -- the file's province (from its path)
    report_date       date        not null,  -- the file's report day (from its path)
    org_code          text        not null,
    version           integer     not null,  -- 1 for {org}.csv, n for {org}.vn.csv; a changed file at the same path gets the next
    source_path       text        not null,  -- relative to the source root
    sha256            text        not null,  -- address of the fetched bytes in the landing store
    bytes             bigint      not null,
    fetched_at        timestamptz not null default now(),
    status            text        not null check (status in ('landed', 'loaded', 'quarantined', 'rejected', 'superseded')),
    superseded_by     bigint references raw.report_files (file_id),
    rows_received     integer,
    rows_loaded       integer,
    rows_quarantined  integer,
    control_total     bigint,      -- the `Tổng cộng` row's amount, where the file has one
    extra_columns     text[],      -- schema drift: unknown columns kept in raw storage
    reason            text,        -- why a file was rejected or quarantined whole
    unique (province_code, report_date, org_code, sha256)
);

-- A warehouse from before partitioning has a plain raw.receipts: set it aside here; it is copied into
-- the partitioned table and dropped below, all within this file's one transaction (init_schema).
do $$
begin
    if exists (select from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'raw' and c.relname = 'receipts' and c.relkind = 'r') then
        alter table raw.receipts rename to receipts_unpartitioned;
        alter table raw.receipts_unpartitioned drop constraint receipts_pkey;  -- names the new table takes
        alter table raw.receipts_unpartitioned drop constraint if exists receipts_file_id_fkey;
        drop index if exists raw.receipts_receipt_no;
    end if;
end
$$;

-- One row per loaded receipt; personal data already pseudonymised, names dropped.
-- Partitioned by month of report_date (what a day's load and a reload touch; a year is about 30 M
-- rows): raw.receipts_YYYY_MM, created on demand before each load (raw.add_receipt_months, called by
-- bhxh.partitions), and raw.receipts_default for a row no month partition takes (none, when the load
-- path is followed). The key must contain the partition column: report_date leads it, so that the
-- receipts of a day's files are one range of each index (dbt's incremental read joins new files by
-- report_date and file_id; PostgreSQL 18's skip scan serves a lookup by file_id alone).
-- raw.quarantine and raw.dq_results stay plain tables: they grow with the bad rows and with the files
-- (about 1 M check results a year), not with the receipts, and their lookups are by file_id.
create table if not exists raw.receipts (
    file_id                bigint  not null,  -- raw.report_files (file_id): checked per statement, below
    line_no                integer not null,  -- line in the source file (1-based, header included)
    file_province_code     text    not null,
    report_date            date    not null,
    org_code               text    not null,
    receipt_no             text,
    collected_on           date,
    collection_point       text,
    province_code          text,
    district_code          text,
    commune_code           text,
    participant_key        text,   -- HMAC-SHA256 of participant_code
    birth_year             integer,
    gender                 text,
    scheme                 text,   -- its codes and transaction_type's: CHECK constraints, below
    transaction_type       text,
    period_start           date,
    months_paid            integer,
    declared_income        bigint,
    household_member_no    integer,
    subsidy_group          text,
    state_subsidy          bigint,
    amount                 bigint,
    extra                  jsonb,  -- unknown columns, as sent
    primary key (report_date, file_id, line_no)
) partition by range (report_date);
create table if not exists raw.receipts_default partition of raw.receipts default;

-- Every receipt's file is in the manifest: checked once per statement over the rows it wrote (a
-- transition table), not by a foreign key. A foreign key checks each row with a query of its own:
-- 3.5 s of the server's CPU per million receipts COPYed, against about 1 s for the statement's check
-- (benchmarks/RESULTS.md), with two loads and the server sharing two cores. The same error class
-- (foreign_key_violation) as the key it replaces; a manifest row that receipts point at cannot be
-- deleted. The key of a warehouse from before is dropped here.
alter table raw.receipts drop constraint if exists receipts_file_id_fkey;
create or replace function raw.receipts_of_known_files() returns trigger
    language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
    unknown bigint;
begin
    select n.file_id into unknown
    from (select distinct file_id from new_rows) n
    where not exists (select from raw.report_files f where f.file_id = n.file_id)
    limit 1;
    if found then
        raise foreign_key_violation using
            message = format('receipts of file_id %s, which raw.report_files does not have', unknown),
            table = 'receipts', schema = 'raw';
    end if;
    return null;
end
$$;
create or replace function raw.report_files_without_receipts() returns trigger
    language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
    kept bigint;
begin
    select o.file_id into kept from old_rows o
    where exists (select from raw.receipts r where r.file_id = o.file_id)
    limit 1;
    if found then
        raise foreign_key_violation using
            message = format('raw.report_files row %s still has receipts in raw.receipts', kept),
            table = 'report_files', schema = 'raw';
    end if;
    return null;
end
$$;
create or replace trigger receipts_file_known_on_insert after insert on raw.receipts
    referencing new table as new_rows for each statement execute function raw.receipts_of_known_files();
create or replace trigger receipts_file_known_on_update after update on raw.receipts
    referencing new table as new_rows for each statement execute function raw.receipts_of_known_files();
create or replace trigger report_files_keep_receipts after delete on raw.report_files
    referencing old table as old_rows for each statement execute function raw.report_files_without_receipts();

-- The codes the loader's suite accepts (bhxh.canonical SCHEMES, TRANSACTION_TYPES), as constraints: a
-- row outside them is refused by the table itself, and the marts' accepted_values tests on
-- stg_collections__receipts are answered from the constraints (every partition excluded: 1 ms
-- against 15 s over a national year's receipts, on the marts' critical path). Added here for a new
-- warehouse and for one from before alike (checked against its rows once).
do $$
begin
    if not exists (select from pg_constraint where conrelid = 'raw.receipts'::regclass
                                              and conname = 'receipts_scheme_check') then
        alter table raw.receipts add constraint receipts_scheme_check check (scheme in ('TN', 'HGD'));
    end if;
    if not exists (select from pg_constraint where conrelid = 'raw.receipts'::regclass
                                              and conname = 'receipts_transaction_type_check') then
        alter table raw.receipts add constraint receipts_transaction_type_check
            check (transaction_type in ('new', 'continued', 'arrears', 'refund'));
    end if;
end
$$;

-- The month partitions of first_day..last_day that do not exist yet. Rows of such a month already in
-- the default partition move into the new partition. SECURITY DEFINER: creating a partition takes
-- the parent's owner; the loader may only call this (its grant is in security.sql). Partitions get
-- the privileges of the schema's default privileges (security.sql), like any table the owner creates;
-- reads and writes through raw.receipts check only raw.receipts' own grants.
create or replace function raw.add_receipt_months(first_day date, last_day date) returns integer
    language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
    month date;
    part text;
    added integer := 0;
begin
    for month in select generate_series(date_trunc('month', first_day), date_trunc('month', last_day),
                                        interval '1 month')::date loop
        part := 'receipts_' || to_char(month, 'YYYY_MM');
        continue when to_regclass('raw.' || part) is not null;
        -- two loads at once: the second waits here for the first to commit; its create then finds the
        -- first's partition (duplicate_table: the catalog this statement sees predates that commit)
        perform pg_advisory_xact_lock(hashtext('raw.add_receipt_months'));
        begin
            if exists (select from raw.receipts_default
                       where report_date >= month and report_date < (month + interval '1 month')::date) then
                execute format('create table raw.%I (like raw.receipts including all)', part);
                execute format('with moved as (delete from raw.receipts_default where report_date >= %L and report_date < %L '
                               'returning *) insert into raw.%I select * from moved',
                               month, (month + interval '1 month')::date, part);
                execute format('alter table raw.receipts attach partition raw.%I for values from (%L) to (%L)',
                               part, month, (month + interval '1 month')::date);
            else
                execute format('create table raw.%I partition of raw.receipts for values from (%L) to (%L)',
                               part, month, (month + interval '1 month')::date);
            end if;
        exception when duplicate_table then
            continue;
        end;
        added := added + 1;
    end loop;
    return added;
end
$$;

-- After a load: ANALYZE the month partitions of first_day..last_day that changed by 10% or more since
-- their last ANALYZE (or never had one), and the parent (ANALYZE ONLY: its own statistics over all
-- partitions, which autovacuum never gathers) when the partitions' rows grew 10% or more since. Those
-- are autovacuum's thresholds, applied at once so that the marts built right after a load are planned
-- with the new day's statistics. Returns the tables analyzed.
create or replace function raw.analyze_receipt_months(first_day date, last_day date) returns text[]
    language plpgsql security definer set search_path = pg_catalog, pg_temp
as $$
declare
    part record;
    done text[] := '{}';
    parent_rows real;
    partition_rows real;
begin
    for part in select c.oid::regclass as rel
                from pg_inherits i join pg_class c on c.oid = i.inhrelid
                left join pg_stat_all_tables s on s.relid = c.oid
                where i.inhparent = 'raw.receipts'::regclass
                  and c.relname in (select 'receipts_' || to_char(m, 'YYYY_MM') from generate_series(
                          date_trunc('month', first_day), date_trunc('month', last_day), interval '1 month') m)
                  and (c.reltuples < 0 or coalesce(s.n_mod_since_analyze, 0) >= 0.1 * greatest(c.reltuples, 1)) loop
        execute format('analyze %s', part.rel);
        done := done || part.rel::text;
    end loop;
    select reltuples into parent_rows from pg_class where oid = 'raw.receipts'::regclass;
    select sum(greatest(c.reltuples, 0)) into partition_rows
    from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'raw.receipts'::regclass;
    if parent_rows < 0 or partition_rows >= 1.1 * parent_rows + 1000 then
        analyze only raw.receipts;
        done := done || 'raw.receipts'::text;
    end if;
    return done;
end
$$;

-- The receipts of a warehouse from before partitioning (set aside above), into their month partitions.
do $$
declare
    first_day date;
    last_day date;
    columns text;
begin
    if to_regclass('raw.receipts_unpartitioned') is null then
        return;
    end if;
    select min(report_date), max(report_date) into first_day, last_day from raw.receipts_unpartitioned;
    if first_day is not null then
        perform raw.add_receipt_months(first_day, last_day);
    end if;
    select string_agg(format('%I', attname), ', ' order by attnum) into columns
    from pg_attribute where attrelid = 'raw.receipts_unpartitioned'::regclass and attnum > 0 and not attisdropped;
    execute format('insert into raw.receipts (%s) select %s from raw.receipts_unpartitioned', columns, columns);
    drop table raw.receipts_unpartitioned;
    analyze raw.receipts;  -- the parent and every partition: the copied rows have no statistics yet
    raise notice 'raw.receipts partitioned by month: % .. %', first_day, last_day;
end
$$;

-- Rows (or whole files) that failed validation, with their original values and every reason.
create table if not exists raw.quarantine (
    file_id      bigint  not null references raw.report_files (file_id),
    line_no      integer not null,  -- 0 for a file quarantined whole without rows
    reasons      text[]  not null,
    original     jsonb   not null,  -- the row as sent, participant code pseudonymised, name dropped
    primary key (file_id, line_no)
);

-- Every validation run and check result.
create table if not exists raw.dq_results (
    run_id            text        not null,
    file_id           bigint references raw.report_files (file_id),
    province_code     text,
    report_date       date,
    file              text,
    check_name        text        not null,
    success           boolean     not null,
    unexpected_count  bigint,
    sample_values     jsonb,
    checked_at        timestamptz not null default now()
);
create index if not exists dq_results_day on raw.dq_results (report_date, province_code);
-- the incremental marts.fct_data_quality looks only at the results checked since its last build
create index if not exists dq_results_checked_at on raw.dq_results (checked_at);

-- Monthly provincial summaries from the social insurance offices.
create table if not exists raw.monthly_summaries (
    province_code                        text    not null,
    month                                date    not null,
    mandatory_si_participants            bigint,
    voluntary_si_participants            bigint,
    unemployment_insurance_participants  bigint,
    health_insurance_participants        bigint,
    sha256                               text    not null,
    loaded_at                            timestamptz not null default now(),
    primary key (province_code, month)
);

-- Data quality and completeness (additive; safe on an existing warehouse).
-- Arrival time of a report: the source file's modification time where the source gives one.
alter table raw.report_files add column if not exists source_modified_at timestamptz;
-- A quarantined row (or file) whose report was later replaced by a newer version says so here.
alter table raw.quarantine add column if not exists superseded_by bigint references raw.report_files (file_id);
-- 'error' rejects (quarantine), 'warning' is recorded and alerted only (control total, drift, anomalies).
alter table raw.dq_results add column if not exists severity text not null default 'error';

-- The reports the source registry (config/source_registry.yml) expects, written by the daily collect
-- task for each day it looks at: one row per province, report day and organisation.
create table if not exists raw.expected_reports (
    province_code  text        not null,
    report_date    date        not null,
    org_code       text        not null,
    deadline       timestamptz not null,
    source_root    text,
    registered_at  timestamptz not null default now(),
    primary key (province_code, report_date, org_code)
);
-- When a manifest row was inserted or last changed (status, counts, reason, supersession), stamped by
-- a trigger whatever the writer (the loader, the key rotation, a hand fix): the incremental
-- marts.fct_report_completeness recomputes only the report days with a row changed since its last
-- build (index). Added in place to an older warehouse: its rows get the time of the upgrade, so the
-- first build after it recomputes every day once.
alter table raw.report_files add column if not exists changed_at timestamptz not null default now();
create or replace function raw.stamp_changed_at() returns trigger
    language plpgsql set search_path = pg_catalog, pg_temp
as $$
begin
    if new is distinct from old then
        new.changed_at := now();
    end if;
    return new;
end
$$;
create or replace trigger report_files_changed_at before update on raw.report_files
    for each row execute function raw.stamp_changed_at();
create index if not exists report_files_changed_at on raw.report_files (changed_at);
-- the same for the expected reports: registered_at is set at each (re-)registration; the deadline
-- index finds the days whose deadline passed since the last build (pending becomes missing)
create index if not exists expected_reports_registered_at on raw.expected_reports (registered_at);
create index if not exists expected_reports_deadline on raw.expected_reports (deadline);
-- receipt numbers are unique per organisation and year: looked up across days by validation
-- (created after the migration's copy above: building it once is cheaper than maintaining it per row)
create index if not exists receipts_receipt_no on raw.receipts (receipt_no);
