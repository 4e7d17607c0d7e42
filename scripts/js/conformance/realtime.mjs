// Realtime conformance: the official supabase-js client (realtime-js with
// its default serializer) against the local Supabase's Realtime server. Run
// by shared/localsupabase/realtime's Go test, which creates the js_rt*
// tables and passes:
//   SUPABASE_URL   the project's base URL (its gateway)
//   ANON_KEY, SERVICE_ROLE_KEY, PUBLISHABLE_KEY
//   SQL_URL        test-only endpoint: POST a statement, it runs as superuser
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';

const url = process.env.SUPABASE_URL;
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
const service = createClient(url, process.env.SERVICE_ROLE_KEY, opts);

after(async () => {
  await service.removeAllChannels();
  await service.realtime.disconnect();
});

const sql = async (statement) => {
  const res = await fetch(process.env.SQL_URL, { method: 'POST', body: statement });
  assert.equal(res.status, 204, `sql failed: ${await res.text()}`);
};

const withTimeout = (promise, ms, what) => {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
};

// listen subscribes to bindings on a fresh channel and resolves once the
// server reports "Subscribed to PostgreSQL" (the documented readiness
// signal). It returns the channel and the array events accumulate in.
async function listen(name, bindings) {
  const events = [];
  const channel = service.channel(name);
  for (const b of bindings) channel.on('postgres_changes', b, (payload) => events.push(payload));
  let status;
  const ready = new Promise((resolve, reject) => {
    channel.on('system', {}, (msg) => {
      if (msg.extension !== 'postgres_changes') return;
      if (msg.status === 'ok') resolve(msg);
      else reject(new Error(`system error: ${msg.message}`));
    });
  });
  const joined = new Promise((resolve, reject) => {
    channel.subscribe((s, err) => {
      status = s;
      if (s === 'SUBSCRIBED') resolve();
      else if (s !== 'CLOSED') reject(err ?? new Error(s));
    });
  });
  await withTimeout(joined, 10000, `join ${name}`);
  return { channel, events, ready, status: () => status };
}

const until = async (cond, what, ms = 10000) => {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const tsFormat = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test('uses the 2.0.0 serializer by default', () => {
  assert.equal(service.realtime.vsn, '2.0.0');
  assert.match(service.realtime.endpointURL(), /\/realtime\/v1\/websocket\?apikey=.*vsn=2\.0\.0/);
});

test('INSERT, UPDATE and DELETE arrive with the right payloads', async () => {
  const { channel, events, ready } = await listen('rt-all', [{ event: '*', schema: 'public', table: 'js_rt' }]);
  await withTimeout(ready, 10000, 'Subscribed to PostgreSQL');

  await sql(`insert into public.js_rt (id, status, amount, tags, meta) values (1, 'open', 12.5, '{a,b}', '{"k": [1, 2]}')`);
  await sql(`update public.js_rt set status = 'paid' where id = 1`);
  await sql(`delete from public.js_rt where id = 1`);
  await until(() => events.length >= 3, 'three changes');

  const [ins, upd, del] = events;
  assert.equal(ins.eventType, 'INSERT');
  assert.equal(ins.schema, 'public');
  assert.equal(ins.table, 'js_rt');
  assert.match(ins.commit_timestamp, tsFormat);
  assert.equal(ins.errors, null);
  assert.deepEqual(ins.new, { id: 1, status: 'open', amount: 12.5, tags: ['a', 'b'], meta: { k: [1, 2] } });
  assert.deepEqual(ins.old, {});

  assert.equal(upd.eventType, 'UPDATE');
  assert.deepEqual(upd.new, { id: 1, status: 'paid', amount: 12.5, tags: ['a', 'b'], meta: { k: [1, 2] } });
  assert.deepEqual(upd.old, { id: 1 });

  assert.equal(del.eventType, 'DELETE');
  assert.deepEqual(del.new, {});
  assert.deepEqual(del.old, { id: 1 });
  assert.equal(events.length, 3);
  await service.removeChannel(channel);
});

test('a filter narrows what arrives', async () => {
  const { channel, events, ready } = await listen('rt-filter', [
    { event: 'INSERT', schema: 'public', table: 'js_rt', filter: 'status=eq.paid' },
  ]);
  await withTimeout(ready, 10000, 'Subscribed to PostgreSQL');
  await sql(`insert into public.js_rt (id, status) values (10, 'open'), (11, 'paid'), (12, 'void')`);
  await sql(`update public.js_rt set status = 'paid' where id = 10`);
  await sql(`insert into public.js_rt (id, status) values (13, 'paid')`);
  await until(() => events.length >= 2, 'two paid inserts');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(events.map((e) => [e.eventType, e.new.id]), [['INSERT', 11], ['INSERT', 13]]);
  await service.removeChannel(channel);
});

test('a table outside the publication sends nothing', async () => {
  const { channel, events, ready } = await listen('rt-hidden', [{ event: '*', schema: 'public', table: 'js_rt_hidden' }]);
  await assert.rejects(withTimeout(ready, 10000, 'system message'), /Unable to subscribe to changes with given parameters/);

  // A schema-wide subscription sees the published table but not the other.
  const wide = await listen('rt-schema', [{ event: 'INSERT', schema: 'public' }]);
  await withTimeout(wide.ready, 10000, 'Subscribed to PostgreSQL');
  await sql(`insert into public.js_rt_hidden (id) values (1)`);
  await sql(`insert into public.js_rt (id, status) values (20, 'marker')`);
  await until(() => wide.events.length >= 1, 'the published insert');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(wide.events.map((e) => [e.table, e.new.id]), [['js_rt', 20]]);
  assert.equal(events.length, 0);
  await service.removeChannel(channel);
  await service.removeChannel(wide.channel);
});

test('an opaque publishable key connects through the gateway', async () => {
  const client = createClient(url, process.env.PUBLISHABLE_KEY, opts);
  const channel = client.channel('rt-publishable');
  const events = [];
  channel.on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'js_rt' }, (p) => events.push(p));
  const ready = new Promise((resolve, reject) => {
    channel.on('system', {}, (msg) => {
      if (msg.extension !== 'postgres_changes') return;
      if (msg.status === 'ok') resolve();
      else reject(new Error(msg.message));
    });
  });
  channel.subscribe();
  await withTimeout(ready, 10000, 'Subscribed to PostgreSQL');
  await sql(`insert into public.js_rt (id, status) values (30, 'anon')`);
  await until(() => events.length >= 1, 'the insert as anon');
  assert.equal(events[0].new.status, 'anon');
  await client.removeAllChannels();
  await client.realtime.disconnect();
});
