// Proxy conformance: the official supabase-js client with Supabridge's
// proxy as its project URL and an operator API key as its key, never the
// customer's. Run by shared/proxy's Go test, which creates the px_*
// fixtures in the project and passes:
//   SUPABRIDGE_URL, OPERATOR_KEY, ACCOUNT_ID, PROJECT_REF (organization
//   accounts only), USER_TOKEN and USER_ID (a user's access token for the
//   project), RUN (a string unique to this run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const headers = { 'X-Integrated-Account-Id': process.env.ACCOUNT_ID };
if (process.env.PROJECT_REF) headers['X-Supabase-Project-Ref'] = process.env.PROJECT_REF;
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
const url = `${process.env.SUPABRIDGE_URL}/proxy`;
const supabase = createClient(url, process.env.OPERATOR_KEY, { ...opts, global: { headers } });
const run = process.env.RUN;

const ok = (res) => {
  assert.equal(res.error, null, `unexpected error: ${JSON.stringify(res.error)}`);
  return res;
};

test('select with filters, order and count', async () => {
  const r1 = ok(await supabase.from('px_books').select('id,title').eq('author', 'le guin').order('id'));
  assert.deepEqual(r1.data.map((b) => b.id), [1, 2, 3]);

  const r2 = ok(await supabase.from('px_books').select('id').gt('year', 1968).lte('year', 1979).neq('id', 3).order('id'));
  assert.deepEqual(r2.data, [{ id: 2 }, { id: 4 }]);

  const r3 = ok(await supabase.from('px_books').select('id').in('id', [5, 1]).ilike('title', '%a%').order('id', { ascending: false }));
  assert.deepEqual(r3.data, [{ id: 5 }, { id: 1 }]);

  const head = ok(await supabase.from('px_books').select('*', { count: 'exact', head: true }));
  assert.equal(head.count, 5);
  assert.equal(head.data, null);

  const page = ok(await supabase.from('px_books').select('id', { count: 'exact' }).order('id').range(1, 2));
  assert.deepEqual(page.data, [{ id: 2 }, { id: 3 }]);
  assert.equal(page.count, 5);
  assert.equal(page.status, 206);

  const one = ok(await supabase.from('px_books').select('title').eq('id', 4).single());
  assert.deepEqual(one.data, { title: 'Kindred' });
});

test('Data API errors come back as PostgREST wrote them', async () => {
  const res = await supabase.from('px_no_such_table').select('*');
  assert.equal(res.status, 404);
  assert.equal(res.error.code, 'PGRST205');
});

test('insert, upsert, update, delete', async () => {
  const slug = (s) => `${run}-${s}`;
  const ins = ok(await supabase.from('px_items').insert({ slug: slug('a'), name: 'apple' }).select('slug,name,qty').single());
  assert.deepEqual(ins.data, { slug: slug('a'), name: 'apple', qty: 1 });
  assert.equal(ins.status, 201);

  // Objects with different keys: missing ones take the column default.
  const bulk = ok(await supabase.from('px_items').insert([{ slug: slug('b'), name: 'banana', qty: 5 }, { slug: slug('c'), name: 'cherry' }],
    { defaultToNull: false }).select('slug,qty').order('slug'));
  assert.deepEqual(bulk.data, [{ slug: slug('b'), qty: 5 }, { slug: slug('c'), qty: 1 }]);

  const up = ok(await supabase.from('px_items').upsert({ slug: slug('a'), name: 'apricot' }, { onConflict: 'slug' }).select('slug,name'));
  assert.deepEqual(up.data, [{ slug: slug('a'), name: 'apricot' }]);

  const upd = ok(await supabase.from('px_items').update({ qty: 9 }).like('slug', `${run}-%`).gt('qty', 1).select('slug,qty'));
  assert.deepEqual(upd.data, [{ slug: slug('b'), qty: 9 }]);

  const del = ok(await supabase.from('px_items').delete({ count: 'exact' }).like('slug', `${run}-%`));
  assert.equal(del.count, 3);
  const left = ok(await supabase.from('px_items').select('id', { count: 'exact', head: true }).like('slug', `${run}-%`));
  assert.equal(left.count, 0);
});

test('rpc', async () => {
  const add = ok(await supabase.rpc('px_add', { a: 2, b: 40 }));
  assert.equal(add.data, 42);
  const since = ok(await supabase.rpc('px_books_since', { y: 1979 }).select('id').order('id'));
  assert.deepEqual(since.data, [{ id: 4 }, { id: 5 }]);
});

test('auth.admin createUser and listUsers', async () => {
  const email = `${run}@proxy.example.com`;
  const created = ok(await supabase.auth.admin.createUser({ email, password: 'a-long-password', email_confirm: true }));
  assert.equal(created.data.user.email, email);
  const listed = ok(await supabase.auth.admin.listUsers({ page: 1, perPage: 1000 }));
  assert.ok(listed.data.users.some((u) => u.email === email), 'created user is listed');
  const dup = await supabase.auth.admin.createUser({ email });
  assert.equal(dup.error.status, 422);
  assert.equal(dup.error.code, 'email_exists');
});

test("a user's access token runs under row-level security", async () => {
  const asUser = createClient(url, process.env.OPERATOR_KEY, {
    ...opts, global: { headers: { ...headers, Authorization: `Bearer ${process.env.USER_TOKEN}` } },
  });
  const body = `${run} note`;
  const ins = ok(await asUser.from('px_notes').insert({ body }).select('owner,body').single());
  assert.deepEqual(ins.data, { owner: process.env.USER_ID, body });
  // The account's key bypasses RLS and sees every note; the user sees only
  // theirs, so the proxy forwarded the user's token and not the key.
  const mine = ok(await asUser.from('px_notes').select('owner'));
  assert.ok(mine.data.length >= 1);
  assert.ok(mine.data.every((n) => n.owner === process.env.USER_ID));
  const all = ok(await supabase.from('px_notes').select('owner'));
  assert.ok(all.data.some((n) => n.owner !== process.env.USER_ID), 'the key sees the seed note of another owner');
});
