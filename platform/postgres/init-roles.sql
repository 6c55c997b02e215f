-- Roles, database and extension for Engram on a fresh PostgreSQL with pgvector.
--
-- The official postgres / pgvector images run this once, when the data volume is empty
-- (mounted into /docker-entrypoint-initdb.d). Elsewhere, as a superuser with psql >= 15:
--   ENGRAM_OWNER_DB_PASSWORD=... ENGRAM_APP_DB_PASSWORD=... \
--     psql -v ON_ERROR_STOP=1 -d postgres -f platform/postgres/init-roles.sql
-- It is idempotent; re-running it re-asserts role attributes and resets both passwords.
-- The dev equivalent is platform/devpostgres.py (bootstrap_sql); keep the two in step.
--
--   engram_owner  owns the database and the schema; migrations run as this role.
--   engram_app    what the application connects as: neither superuser nor owner and
--                 without BYPASSRLS, so row-level security applies to every query.
-- Grants on tables, RLS policies and triggers belong to migrations, not here.

\set ON_ERROR_STOP on
\getenv owner_pw ENGRAM_OWNER_DB_PASSWORD
\getenv app_pw ENGRAM_APP_DB_PASSWORD

\if :{?owner_pw}
\else
  DO $$ BEGIN RAISE EXCEPTION 'ENGRAM_OWNER_DB_PASSWORD is not set'; END $$;
\endif
\if :{?app_pw}
\else
  DO $$ BEGIN RAISE EXCEPTION 'ENGRAM_APP_DB_PASSWORD is not set'; END $$;
\endif

SELECT 'CREATE ROLE engram_owner' WHERE NOT EXISTS
  (SELECT FROM pg_roles WHERE rolname = 'engram_owner') \gexec
SELECT 'CREATE ROLE engram_app' WHERE NOT EXISTS
  (SELECT FROM pg_roles WHERE rolname = 'engram_app') \gexec
ALTER ROLE engram_owner WITH LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_pw';
ALTER ROLE engram_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_pw';

-- In template1 first, so every database created later (tests too) already has pgvector.
\connect template1
CREATE EXTENSION IF NOT EXISTS vector;

\connect postgres
SELECT 'CREATE DATABASE engram OWNER engram_owner' WHERE NOT EXISTS
  (SELECT FROM pg_database WHERE datname = 'engram') \gexec
ALTER DATABASE engram OWNER TO engram_owner;

\connect engram
CREATE EXTENSION IF NOT EXISTS vector;
