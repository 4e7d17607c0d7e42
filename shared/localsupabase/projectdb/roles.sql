-- Supabase's API roles. anon/authenticated/service_role started NOINHERIT and
-- were later switched to INHERIT; authenticator logs in and may only act as
-- the others through SET ROLE, which is how PostgREST impersonates.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator LOGIN NOINHERIT;
  END IF;
  -- No password: nothing logs in as these here, and a known password on a
  -- LOGIN role would be a hole in a user-supplied database.
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_admin') THEN
    CREATE ROLE supabase_admin LOGIN SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_auth_admin') THEN
    CREATE ROLE supabase_auth_admin LOGIN NOINHERIT CREATEROLE NOREPLICATION;
  END IF;
END
$roles$;

ALTER ROLE anon NOLOGIN INHERIT;
ALTER ROLE authenticated NOLOGIN INHERIT;
ALTER ROLE service_role NOLOGIN INHERIT BYPASSRLS;
ALTER ROLE authenticator LOGIN NOINHERIT;

GRANT anon, authenticated, service_role TO authenticator;

-- PostgREST applies the impersonated role's settings per request.
ALTER ROLE anon SET statement_timeout = '3s';
ALTER ROLE authenticated SET statement_timeout = '8s';
ALTER ROLE authenticator SET statement_timeout = '8s';
