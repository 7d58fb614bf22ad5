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

-- One row per loaded receipt; personal data already pseudonymised, names dropped.
create table if not exists raw.receipts (
    file_id                bigint  not null references raw.report_files (file_id),
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
    scheme                 text,
    transaction_type       text,
    period_start           date,
    months_paid            integer,
    declared_income        bigint,
    household_member_no    integer,
    subsidy_group          text,
    state_subsidy          bigint,
    amount                 bigint,
    extra                  jsonb,  -- unknown columns, as sent
    primary key (file_id, line_no)
);

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
-- receipt numbers are unique per organisation and year: looked up across days by validation
create index if not exists receipts_receipt_no on raw.receipts (receipt_no);
