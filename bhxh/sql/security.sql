-- Least privilege and row-level security (issue #8). Idempotent: runs at every `bhxh warehouse start`
-- (bhxh.pipeline.init_schema), after raw.sql, as the warehouse owner (a superuser or the database
-- owner with CREATEROLE).
--
-- Group roles (NOLOGIN) hold the privileges; people and services log in as members of one group
-- (`bhxh access create-login`), so a password is never shared between a person and a service.
--   bhxh_loader           the pipeline: reads and writes raw (manifest, receipts, quarantine, dq_results)
--   bhxh_transformer      dbt: reads raw, owns reference/staging/intermediate/marts
--   bhxh_bi               national BI: reads marts, every row
--   bhxh_province_reader  parent of every provincial analyst role (bhxh access grant-province):
--                         reads marts, only the rows of the provinces granted in security.province_access

do $$
declare
    name text;
begin
    foreach name in array array['bhxh_loader', 'bhxh_transformer', 'bhxh_bi', 'bhxh_province_reader'] loop
        if not exists (select from pg_catalog.pg_roles where rolname = name) then
            begin
                execute format('create role %I nologin', name);
            exception when duplicate_object then null;  -- created concurrently by another setup
            end;
        end if;
    end loop;
end
$$;

-- The database: nobody connects unless a group lets them; only dbt creates schemas.
do $$
begin
    execute format('revoke all on database %I from public', current_database());
    execute format('grant connect on database %I to bhxh_loader, bhxh_transformer, bhxh_bi, bhxh_province_reader',
                   current_database());
    execute format('grant temporary on database %I to bhxh_loader, bhxh_transformer', current_database());
    execute format('grant create on database %I to bhxh_transformer', current_database());
end
$$;
revoke create on schema public from public;

-- The fingerprint of the pseudonym key the warehouse was loaded with (bhxh.pseudonym.check_key).
create table if not exists raw.pseudonym_key (
    only_row     boolean     primary key default true check (only_row),
    fingerprint  text        not null,
    first_used   timestamptz not null default now()
);

-- raw: the loader writes (append and status updates; never delete), the transformer reads.
grant usage on schema raw to bhxh_loader, bhxh_transformer;
grant select, insert, update on all tables in schema raw to bhxh_loader;
grant delete on raw.expected_reports to bhxh_loader;  -- the registry's expectations of a day are replaced whole
grant usage on all sequences in schema raw to bhxh_loader;
grant select on all tables in schema raw to bhxh_transformer;
-- month partitions of raw.receipts: the loader adds them before a load and analyzes them after
-- (bhxh.partitions); only through these functions, never by DDL of its own
revoke all on function raw.add_receipt_months(date, date), raw.analyze_receipt_months(date, date) from public;
grant execute on function raw.add_receipt_months(date, date), raw.analyze_receipt_months(date, date) to bhxh_loader;
alter default privileges in schema raw grant select, insert, update on tables to bhxh_loader;
alter default privileges in schema raw grant usage on sequences to bhxh_loader;
alter default privileges in schema raw grant select on tables to bhxh_transformer;

-- dbt's schemas, owned by the transformer (created here so that default privileges can name them).
do $$
declare
    name text;
begin
    foreach name in array array['reference', 'staging', 'intermediate', 'marts'] loop
        execute format('create schema if not exists %I authorization bhxh_transformer', name);
        execute format('grant usage, create on schema %I to bhxh_transformer', name);
    end loop;
end
$$;
grant select on all tables in schema reference, staging, intermediate to bhxh_transformer;

-- A warehouse whose dbt layers were built by another login (dbt ran as the owner before): hand the
-- schemas and relations to bhxh_transformer, so that dbt, running as it, can replace them.
do $$
declare
    item record;
begin
    for item in select n.nspname from pg_namespace n
                where n.nspname in ('reference', 'staging', 'intermediate', 'marts')
                  and n.nspowner <> 'bhxh_transformer'::regrole loop
        execute format('alter schema %I owner to bhxh_transformer', item.nspname);
    end loop;
    for item in select n.nspname, c.relname,
                       case c.relkind when 'v' then 'view' when 'm' then 'materialized view' else 'table' end as kind
                from pg_class c join pg_namespace n on n.oid = c.relnamespace
                where n.nspname in ('reference', 'staging', 'intermediate', 'marts')
                  and c.relkind in ('r', 'p', 'v', 'm') and c.relowner <> 'bhxh_transformer'::regrole loop
        execute format('alter %s %I.%I owner to bhxh_transformer', item.kind, item.nspname, item.relname);
    end loop;
end
$$;

-- marts: readable by BI and provincial analysts, including the tables dbt creates later, whether dbt
-- runs as a member of bhxh_transformer (the intended set-up) or as the owner running this file.
grant usage on schema marts to bhxh_bi, bhxh_province_reader;
grant select on all tables in schema marts to bhxh_bi, bhxh_province_reader;
alter default privileges for role bhxh_transformer in schema marts grant select on tables to bhxh_bi, bhxh_province_reader;
alter default privileges in schema marts grant select on tables to bhxh_bi, bhxh_province_reader;

-- Row-level security: which provincial role sees which province (dim_province.province_key, i.e. a
-- code AND its validity, so that old code 30 Hải Dương is not new code 31 Hải Phòng). Written by
-- `bhxh access grant-province`; read only through the functions below.
create schema if not exists security;
revoke all on schema security from public;
grant usage on schema security to bhxh_bi, bhxh_province_reader, bhxh_transformer;

create table if not exists security.province_access (
    role_name     name        not null,
    province_key  text        not null,  -- '{province_code}:{valid_from}', e.g. '30:2008-08-01'
    granted_at    timestamptz not null default now(),
    primary key (role_name, province_key)
);
revoke all on security.province_access from public;

-- National roles (BI, and dbt which tests the marts) see every row. The policies pass current_user:
-- inside a SECURITY DEFINER function current_user is the function's owner.
create or replace function security.sees_all_provinces(who name) returns boolean
    language sql stable set search_path = pg_catalog
as $$ select pg_has_role(who, 'bhxh_bi', 'member') or pg_has_role(who, 'bhxh_transformer', 'member') $$;

create or replace function security.province_keys(who name) returns text[]
    language sql stable security definer set search_path = pg_catalog
as $$
    select coalesce(array_agg(a.province_key), '{}')
    from security.province_access a
    join pg_catalog.pg_roles r on r.rolname = a.role_name
    where pg_has_role(who, r.oid, 'member')
$$;

revoke all on function security.sees_all_provinces(name), security.province_keys(name) from public;
grant execute on function security.sees_all_provinces(name), security.province_keys(name)
    to bhxh_bi, bhxh_province_reader, bhxh_transformer;
