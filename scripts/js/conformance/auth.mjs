// Auth admin conformance: the official supabase-js client against the local
// Supabase's /auth/v1. Run by shared/localsupabase's Go test with
// SUPABASE_URL and ADMIN_KEY (a service_role or sb_secret_ key) set, on a
// project with no users yet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const admin = createClient(process.env.SUPABASE_URL, process.env.ADMIN_KEY, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
}).auth.admin;

const ok = (res) => {
  assert.equal(res.error, null, `unexpected error: ${JSON.stringify(res.error)}`);
  return res.data;
};

const total = 25;

test('createUser', async () => {
  for (let i = 0; i < total; i++) {
    const { user } = ok(await admin.createUser({
      email: `JS${String(i).padStart(2, '0')}@Example.com`,
      password: 'a-long-password',
      email_confirm: i % 2 === 0,
      user_metadata: { n: i, drop: 'me' },
    }));
    assert.equal(user.email, `js${String(i).padStart(2, '0')}@example.com`);
    assert.equal(user.user_metadata.n, i);
    assert.equal(user.identities.length, 1);
    assert.equal(Boolean(user.email_confirmed_at), i % 2 === 0);
  }
  const dup = await admin.createUser({ email: 'js00@example.com' });
  assert.equal(dup.data.user, null);
  assert.equal(dup.error.status, 422);
  assert.equal(dup.error.code, 'email_exists');
});

test('listUsers beyond page 10', async () => {
  const page11 = ok(await admin.listUsers({ page: 11, perPage: 2 }));
  assert.equal(page11.users.length, 2);
  assert.equal(page11.total, total);
  assert.equal(page11.aud, 'authenticated');
  const page13 = ok(await admin.listUsers({ page: 13, perPage: 2 }));
  assert.equal(page13.users.length, 1);
  assert.equal(page13.users[0].email, 'js00@example.com'); // newest first
  const past = ok(await admin.listUsers({ page: 14, perPage: 2 }));
  assert.equal(past.users.length, 0);

  const seen = new Set();
  for (let page = 1; ; page++) {
    const { users } = ok(await admin.listUsers({ page, perPage: 3 }));
    if (users.length === 0) break;
    users.forEach((u) => seen.add(u.id));
  }
  assert.equal(seen.size, total);
});

test('updateUserById merges metadata and null deletes a key', async () => {
  const { users } = ok(await admin.listUsers({ page: 1, perPage: 1 }));
  const id = users[0].id;
  const { user } = ok(await admin.updateUserById(id, {
    user_metadata: { drop: null, added: true },
    app_metadata: { plan: 'pro' },
    ban_duration: '1h',
    email_confirm: true,
  }));
  assert.equal(user.user_metadata.drop, undefined);
  assert.equal(user.user_metadata.added, true);
  assert.equal(typeof user.user_metadata.n, 'number');
  assert.equal(user.app_metadata.plan, 'pro');
  assert.equal(user.app_metadata.provider, 'email');
  assert.ok(new Date(user.banned_until) > new Date());
  assert.ok(user.email_confirmed_at);

  const weak = await admin.updateUserById(id, { password: '123' });
  assert.equal(weak.error.status, 422);
  assert.equal(weak.error.code, 'weak_password');
});

test('deleteUser', async () => {
  const { user } = ok(await admin.createUser({ email: 'gone@example.com' }));
  ok(await admin.deleteUser(user.id));
  const missing = await admin.getUserById(user.id);
  assert.equal(missing.error.status, 404);
  assert.equal(missing.error.code, 'user_not_found');

  const { user: soft } = ok(await admin.createUser({ email: 'soft@example.com' }));
  ok(await admin.deleteUser(soft.id, true));
  const after = ok(await admin.getUserById(soft.id));
  assert.ok(after.user.deleted_at);
});

test('inviteUserByEmail', async () => {
  const { user } = ok(await admin.inviteUserByEmail('Invited@Example.com', { data: { team: 'x' }, redirectTo: 'http://localhost:3000/welcome' }));
  assert.equal(user.email, 'invited@example.com');
  assert.ok(user.invited_at);
  assert.equal(user.user_metadata.team, 'x');
  const again = await admin.inviteUserByEmail('js00@example.com');
  assert.equal(again.error.status, 422);
  assert.equal(again.error.code, 'email_exists');
});
