// Data API conformance: the official supabase-js client against the local
// Supabase's /rest/v1. Run by shared/localsupabase/postgrest's Go test,
// which creates the js_* fixtures and passes the endpoint and keys:
//   SUPABASE_URL, ANON_KEY, SERVICE_ROLE_KEY, USER_A_TOKEN, USER_B_TOKEN,
//   USER_A_ID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPABASE_URL;
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
const anon = createClient(url, process.env.ANON_KEY, opts);
const service = createClient(url, process.env.SERVICE_ROLE_KEY, opts);
const asUser = (token) =>
  createClient(url, process.env.ANON_KEY, { ...opts, global: { headers: { Authorization: `Bearer ${token}` } } });
const alice = asUser(process.env.USER_A_TOKEN);
const bob = asUser(process.env.USER_B_TOKEN);

const ok = (res) => {
  assert.equal(res.error, null, `unexpected error: ${JSON.stringify(res.error)}`);
  return res;
};

test('select with filters and order', async () => {
  const { data } = ok(await anon.from('js_books').select('id,title').eq('author', 'le guin').order('id'));
  assert.deepEqual(data.map((b) => b.id), [1, 2, 3]);

  const r2 = ok(await anon.from('js_books').select('id').gt('year', 1968).lte('year', 1979).neq('id', 3).order('id'));
  assert.deepEqual(r2.data, [{ id: 2 }, { id: 4 }]);

  const r3 = ok(await anon.from('js_books').select('id').in('id', [5, 1]).order('id', { ascending: false }));
  assert.deepEqual(r3.data, [{ id: 5 }, { id: 1 }]);

  const r4 = ok(await anon.from('js_books').select('id').ilike('title', '%DARK%'));
  assert.deepEqual(r4.data, [{ id: 2 }]);

  const r5 = ok(await anon.from('js_books').select('id').is('year', null));
  assert.deepEqual(r5.data, [{ id: 6 }]);

  const r6 = ok(await anon.from('js_books').select('id').contains('tags', ['classic', 'scifi']).order('id'));
  assert.deepEqual(r6.data, [{ id: 2 }, { id: 4 }]);

  const r7 = ok(await anon.from('js_books').select('id').or('year.lt.1969,and(author.eq.butler,year.gt.1990)').order('id'));
  assert.deepEqual(r7.data, [{ id: 1 }, { id: 5 }]);

  const r8 = ok(await anon.from('js_books').select('id').not('author', 'eq', 'le guin').not('author', 'is', null).order('id'));
  assert.deepEqual(r8.data, [{ id: 4 }, { id: 5 }]);

  const r9 = ok(await anon.from('js_books').select('id,title').like('title', '%Sower').order('year', { ascending: false, nullsFirst: false }));
  assert.deepEqual(r9.data, [{ id: 5, title: 'Parable of the Sower' }]);

  const r10 = ok(await anon.from('js_books').select('name:title,meta->pages').eq('id', 1));
  assert.deepEqual(r10.data, [{ name: 'A Wizard of Earthsea', pages: 183 }]);
});

test('count and range', async () => {
  const head = ok(await anon.from('js_books').select('*', { count: 'exact', head: true }));
  assert.equal(head.count, 6);
  assert.equal(head.data, null);

  const page = ok(await anon.from('js_books').select('id', { count: 'exact' }).order('id').range(1, 2));
  assert.deepEqual(page.data, [{ id: 2 }, { id: 3 }]);
  assert.equal(page.count, 6);
  assert.equal(page.status, 206);

  const all = ok(await anon.from('js_books').select('id', { count: 'exact' }).eq('author', 'butler'));
  assert.equal(all.count, 2);
  assert.equal(all.status, 200);

  const lim = ok(await anon.from('js_books').select('id').order('id').limit(2));
  assert.deepEqual(lim.data, [{ id: 1 }, { id: 2 }]);

  const planned = ok(await anon.from('js_books').select('id', { count: 'planned' }).limit(1));
  assert.equal(typeof planned.count, 'number');

  const beyond = await anon.from('js_books').select('id', { count: 'exact' }).range(10, 12);
  assert.equal(beyond.status, 416);
  assert.equal(beyond.error.code, 'PGRST103');
});

test('single and maybeSingle', async () => {
  const one = ok(await anon.from('js_books').select('id,title').eq('id', 4).single());
  assert.deepEqual(one.data, { id: 4, title: 'Kindred' });

  const many = await anon.from('js_books').select('id').single();
  assert.equal(many.error.code, 'PGRST116');
  assert.equal(many.status, 406);

  const none = ok(await anon.from('js_books').select('id').eq('id', 99).maybeSingle());
  assert.equal(none.data, null);
});

test('embedded resources', async () => {
  const { data } = ok(await anon.from('js_books').select('id,js_reviews(stars)').eq('id', 1));
  assert.deepEqual(data, [{ id: 1, js_reviews: [{ stars: 5 }, { stars: 3 }] }]);
});

test('insert, upsert, update, delete', async () => {
  const ins = ok(await service.from('js_items').insert({ slug: 'a', name: 'apple' }).select('slug,name,qty').single());
  assert.deepEqual(ins.data, { slug: 'a', name: 'apple', qty: 1 });
  assert.equal(ins.status, 201);

  const minimal = ok(await service.from('js_items').insert({ slug: 'm', name: 'mango' }));
  assert.equal(minimal.status, 201);
  assert.equal(minimal.data, null);

  // Objects with different keys: supabase-js sends columns=; missing keys take defaults.
  const bulk = ok(await service.from('js_items').insert([{ slug: 'b', name: 'banana', qty: 5 }, { slug: 'c', name: 'cherry' }],
    { defaultToNull: false, count: 'exact' }).select('slug,qty').order('slug'));
  assert.deepEqual(bulk.data, [{ slug: 'b', qty: 5 }, { slug: 'c', qty: 1 }]);
  assert.equal(bulk.count, 2);

  const up = ok(await service.from('js_items').upsert({ slug: 'a', name: 'apricot' }, { onConflict: 'slug' }).select('slug,name'));
  assert.deepEqual(up.data, [{ slug: 'a', name: 'apricot' }]);
  assert.equal(up.status, 200);

  const ign = ok(await service.from('js_items').upsert([{ slug: 'a', name: 'nope' }, { slug: 'd', name: 'date' }],
    { onConflict: 'slug', ignoreDuplicates: true }).select('slug,name'));
  assert.deepEqual(ign.data, [{ slug: 'd', name: 'date' }]);

  const upd = ok(await service.from('js_items').update({ qty: 9 }).in('slug', ['b', 'c']).select('slug,qty').order('slug'));
  assert.deepEqual(upd.data, [{ slug: 'b', qty: 9 }, { slug: 'c', qty: 9 }]);

  const updCount = ok(await service.from('js_items').update({ qty: 2 }, { count: 'exact' }).eq('slug', 'b'));
  assert.equal(updCount.count, 1);
  assert.equal(updCount.status, 204);

  const del = ok(await service.from('js_items').delete({ count: 'exact' }).eq('slug', 'd'));
  assert.equal(del.count, 1);
  const delRep = ok(await service.from('js_items').delete().eq('slug', 'm').select('name'));
  assert.deepEqual(delRep.data, [{ name: 'mango' }]);

  const unfiltered = await service.from('js_items').delete();
  assert.equal(unfiltered.error.code, '21000');
  assert.equal(unfiltered.error.message, 'DELETE requires a WHERE clause');
  assert.equal(unfiltered.status, 400);

  const dup = await service.from('js_items').insert({ slug: 'a', name: 'again' });
  assert.equal(dup.error.code, '23505');
  assert.equal(dup.status, 409);

  const left = ok(await service.from('js_items').select('slug').order('slug'));
  assert.deepEqual(left.data.map((r) => r.slug), ['a', 'b', 'c']);
});

test('rpc', async () => {
  const sum = ok(await anon.rpc('js_add', { a: 2, b: 3 }));
  assert.equal(sum.data, 5);

  const viaGet = ok(await anon.rpc('js_add', { a: 40, b: 2 }, { get: true }));
  assert.equal(viaGet.data, 42);

  const set = ok(await anon.rpc('js_books_since', { y: 1970 }, { count: 'exact' }).select('id').order('id', { ascending: false }).limit(2));
  assert.deepEqual(set.data, [{ id: 5 }, { id: 4 }]);
  assert.equal(set.count, 3);

  const filtered = ok(await anon.rpc('js_books_since', { y: 1900 }).eq('author', 'butler').select('id'));
  assert.deepEqual(filtered.data.map((r) => r.id).sort(), [4, 5]);

  const missing = await anon.rpc('js_nope', { a: 1 });
  assert.equal(missing.error.code, 'PGRST202');
  assert.equal(missing.status, 404);

  const me = ok(await alice.rpc('js_me'));
  assert.equal(me.data, process.env.USER_A_ID);
});

test('row level security', async () => {
  const anonRead = ok(await anon.from('js_notes').select('body'));
  assert.deepEqual(anonRead.data, []);

  const anonWrite = await anon.from('js_notes').insert({ body: 'anonymous' });
  assert.equal(anonWrite.error.code, '42501');
  assert.equal(anonWrite.status, 401);

  const write = ok(await alice.from('js_notes').insert({ body: 'from alice' }).select('body'));
  assert.deepEqual(write.data, [{ body: 'from alice' }]);

  const mine = ok(await alice.from('js_notes').select('body').order('id'));
  assert.deepEqual(mine.data.map((n) => n.body), ['alice seed', 'from alice']);

  const theirs = ok(await bob.from('js_notes').select('body'));
  assert.deepEqual(theirs.data, [{ body: 'bob seed' }]);

  const steal = ok(await bob.from('js_notes').update({ body: 'stolen' }, { count: 'exact' }).eq('body', 'from alice'));
  assert.equal(steal.count, 0);

  const forged = await bob.from('js_notes').insert({ body: 'forged', owner: process.env.USER_A_ID });
  assert.equal(forged.error.code, '42501');
  assert.equal(forged.status, 403);

  const all = ok(await service.from('js_notes').select('body', { count: 'exact', head: true }));
  assert.equal(all.count, 3);
});

test('errors', async () => {
  const table = await anon.from('js_nothing').select();
  assert.equal(table.error.code, 'PGRST205');
  assert.equal(table.status, 404);

  const col = await anon.from('js_books').select('nope');
  assert.equal(col.error.code, '42703');

  const badJwt = await asUser('not.a.jwt').from('js_books').select('id');
  assert.equal(badJwt.status, 401);
  assert.equal(badJwt.error.code, 'PGRST301');
});
