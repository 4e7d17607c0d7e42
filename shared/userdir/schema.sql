-- Supabridge directory schema: the tables the unified User Directory API
-- reads and writes in a Supabase project (organizations, roles, profiles and
-- user_roles, which assigns a user a role in an organization), with
-- row-level security policies that let signed-in users see their own
-- organizations, and an example tenant table protected by those
-- assignments.
--
-- Apply it once per project, as the postgres role: in the dashboard's SQL
-- editor, with `psql "$DATABASE_URL" -f schema.sql`, or as a migration
-- (`supabase migration new directory`, paste, `supabase db push`). It is
-- idempotent: running it again changes nothing.
--
-- Supabridge calls the Data API with the project's secret (service_role)
-- key, which bypasses RLS; the policies below are for your own app's users.

-- ---------------------------------------------------------------- tables

create table if not exists public.organizations (
  id          uuid primary key default gen_random_uuid(),
  name        text not null check (length(name) between 1 and 1024),
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

create table if not exists public.roles (
  id          uuid primary key default gen_random_uuid(),
  name        text not null unique check (length(name) between 1 and 1024),
  description text,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

-- One row per Auth user; removed with the user.
create table if not exists public.profiles (
  id          uuid primary key references auth.users (id) on delete cascade,
  first_name  text,
  last_name   text,
  full_name   text,
  username    text,
  avatar_url  text,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

-- A user's role in an organization. It references profiles (not
-- auth.users) so that the Data API can embed a user's assignments in their
-- profile: one read per page of users.
create table if not exists public.user_roles (
  id              uuid primary key default gen_random_uuid(),
  user_id         uuid not null references public.profiles (id) on delete cascade,
  role_id         uuid not null references public.roles (id) on delete cascade,
  organization_id uuid not null references public.organizations (id) on delete cascade,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  unique (user_id, role_id, organization_id)
);

create index if not exists user_roles_organization_id_idx on public.user_roles (organization_id);
create index if not exists user_roles_role_id_idx on public.user_roles (role_id);

-- ------------------------------------------------------------ updated_at

create or replace function public.directory_touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

do $$
declare t text;
begin
  foreach t in array array['organizations', 'roles', 'profiles', 'user_roles'] loop
    if not exists (select 1 from pg_trigger where tgname = t || '_touch_updated_at') then
      execute format('create trigger %I before update on public.%I for each row execute function public.directory_touch_updated_at()',
                     t || '_touch_updated_at', t);
    end if;
  end loop;
end;
$$;

-- ------------------------------------------------- a profile per Auth user

create or replace function public.directory_handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id) values (new.id) on conflict (id) do nothing;
  return new;
end;
$$;

do $$
begin
  if not exists (select 1 from pg_trigger where tgname = 'directory_on_auth_user_created') then
    create trigger directory_on_auth_user_created
      after insert on auth.users
      for each row execute function public.directory_handle_new_user();
  end if;
end;
$$;

-- Users who signed up before the schema existed.
insert into public.profiles (id) select id from auth.users on conflict (id) do nothing;

-- ------------------------------------------------------ grants (Data API)

-- New tables are not exposed to the Data API by default any more: grant
-- explicitly. service_role is what Supabridge uses; authenticated is your
-- app's signed-in users, filtered by the policies below.
grant usage on schema public to anon, authenticated, service_role;
grant select, insert, update, delete on public.organizations, public.roles, public.profiles, public.user_roles to service_role;
grant select on public.organizations, public.roles, public.profiles, public.user_roles to authenticated;
grant update (first_name, last_name, full_name, username, avatar_url) on public.profiles to authenticated;

-- ------------------------------------------ Auth users, paged by keyset

-- Auth's admin API pages users by page number (COUNT(*) plus OFFSET), which
-- shifts under concurrent changes and slows down with the table. This
-- function lets the directory page auth.users by id instead: the same users
-- as Auth's admin list (same instance and audience), shaped as Auth's user
-- object. Only service_role (the project's secret key) may call it.
create or replace function public.directory_auth_users(after_id uuid default null, page_size integer default 100,
                                                      email text default null, search text default null)
returns table (
  id uuid, aud varchar, role varchar, email varchar, phone text,
  email_confirmed_at timestamptz, phone_confirmed_at timestamptz, confirmed_at timestamptz,
  invited_at timestamptz, confirmation_sent_at timestamptz, recovery_sent_at timestamptz,
  email_change_sent_at timestamptz, last_sign_in_at timestamptz,
  app_metadata jsonb, user_metadata jsonb, created_at timestamptz, updated_at timestamptz,
  banned_until timestamptz, deleted_at timestamptz, is_anonymous boolean
)
language sql
stable
security definer
set search_path = ''
as $$
  select u.id, u.aud, u.role, u.email, u.phone,
         u.email_confirmed_at, u.phone_confirmed_at, u.confirmed_at,
         u.invited_at, u.confirmation_sent_at, u.recovery_sent_at,
         u.email_change_sent_at, u.last_sign_in_at,
         coalesce(u.raw_app_meta_data, '{}'::jsonb), coalesce(u.raw_user_meta_data, '{}'::jsonb), u.created_at, u.updated_at,
         u.banned_until, u.deleted_at, u.is_anonymous
  from auth.users u
  where u.instance_id = '00000000-0000-0000-0000-000000000000'
    and u.aud = 'authenticated'
    and (after_id is null or u.id > after_id)
    and (directory_auth_users.email is null or u.email = lower(directory_auth_users.email))
    and (search is null or u.email like '%' || search || '%' or u.raw_user_meta_data ->> 'full_name' ilike '%' || search || '%')
  order by u.id
  limit least(greatest(page_size, 1), 1000);
$$;

revoke execute on function public.directory_auth_users(uuid, integer, text, text) from public, anon, authenticated;
grant execute on function public.directory_auth_users(uuid, integer, text, text) to service_role;

-- ---------------------------------------------------- row-level security

alter table public.organizations enable row level security;
alter table public.roles enable row level security;
alter table public.profiles enable row level security;
alter table public.user_roles enable row level security;

-- The organizations the signed-in user has any role in. SECURITY DEFINER
-- reads user_roles without its own policy applying (no recursion).
create or replace function public.directory_my_organizations()
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select organization_id from public.user_roles where user_id = auth.uid();
$$;

-- Whether the signed-in user holds one of role_names in organization org.
create or replace function public.directory_has_role(org uuid, role_names text[])
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.user_roles ur
    join public.roles r on r.id = ur.role_id
    where ur.user_id = auth.uid() and ur.organization_id = org and r.name = any (role_names)
  );
$$;

revoke execute on function public.directory_my_organizations() from public, anon;
revoke execute on function public.directory_has_role(uuid, text[]) from public, anon;
grant execute on function public.directory_my_organizations() to authenticated, service_role;
grant execute on function public.directory_has_role(uuid, text[]) to authenticated, service_role;

drop policy if exists "members read their organizations" on public.organizations;
create policy "members read their organizations" on public.organizations
  for select to authenticated
  using (id in (select public.directory_my_organizations()));

drop policy if exists "signed-in users read roles" on public.roles;
create policy "signed-in users read roles" on public.roles
  for select to authenticated
  using (true);

drop policy if exists "members read profiles in their organizations" on public.profiles;
create policy "members read profiles in their organizations" on public.profiles
  for select to authenticated
  using (
    id = (select auth.uid())
    or id in (select ur.user_id from public.user_roles ur
              where ur.organization_id in (select public.directory_my_organizations()))
  );

drop policy if exists "users update their own profile" on public.profiles;
create policy "users update their own profile" on public.profiles
  for update to authenticated
  using (id = (select auth.uid()))
  with check (id = (select auth.uid()));

drop policy if exists "members read assignments in their organizations" on public.user_roles;
create policy "members read assignments in their organizations" on public.user_roles
  for select to authenticated
  using (organization_id in (select public.directory_my_organizations()));

-- ------------------------------------------------- example tenant table
-- Rows that belong to one organization: members read them, editors and
-- admins write them. Copy the policies to your own tables (or drop this
-- one).

create table if not exists public.documents (
  id              uuid primary key default gen_random_uuid(),
  organization_id uuid not null references public.organizations (id) on delete cascade,
  title           text not null,
  body            text,
  created_at      timestamptz not null default now()
);

create index if not exists documents_organization_id_idx on public.documents (organization_id);

grant select, insert, update, delete on public.documents to authenticated, service_role;

alter table public.documents enable row level security;

drop policy if exists "members read their organization's documents" on public.documents;
create policy "members read their organization's documents" on public.documents
  for select to authenticated
  using (organization_id in (select public.directory_my_organizations()));

drop policy if exists "editors add documents" on public.documents;
create policy "editors add documents" on public.documents
  for insert to authenticated
  with check (public.directory_has_role(organization_id, array['editor', 'admin']));

drop policy if exists "editors change documents" on public.documents;
create policy "editors change documents" on public.documents
  for update to authenticated
  using (public.directory_has_role(organization_id, array['editor', 'admin']))
  with check (public.directory_has_role(organization_id, array['editor', 'admin']));

drop policy if exists "admins delete documents" on public.documents;
create policy "admins delete documents" on public.documents
  for delete to authenticated
  using (public.directory_has_role(organization_id, array['admin']));

-- Tell the Data API about the new tables and relationships.
notify pgrst, 'reload schema';
