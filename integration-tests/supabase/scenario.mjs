// What a supabase-js user does against a database: reads with filters, ordering, ranges,
// counts and embeds; single objects; writes; upserts; RPC; errors; row-level security as
// anon, as a signed-in user (a JWT of the database's own issuer) and with the service key.
// Prints every result ({data, error, count, status}) as one JSON object.
import { createClient } from '@supabase/supabase-js';
// Node 20 (Debian's) has no WebSocket of its own; supabase-js asks for one at construction
// (its realtime client) even though these requests never open it.
import WebSocket from 'ws';

const { URL, PUBLISHABLE, SERVICE, JWT } = process.env;
const opts = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: WebSocket } };
const anon = createClient(URL, PUBLISHABLE, opts);
const user = createClient(URL, PUBLISHABLE, { ...opts, global: { headers: { Authorization: `Bearer ${JWT}` } } });
const service = createClient(URL, SERVICE, opts);

const keep = ({ data, error, count, status }) => ({ data, error, count, status });
const out = {};
const run = async (name, q) => { out[name] = keep(await q); };

await run('select', anon.from('todos').select('id, title, done').order('id'));
await run('filters', anon.from('todos').select('id').eq('done', false).gt('id', 1).order('id'));
await run('in', anon.from('todos').select('id').in('id', [1, 3]).order('id'));
await run('or', anon.from('todos').select('id').or('id.eq.1,title.ilike.*milk*').order('id'));
await run('not', anon.from('todos').select('id').not('done', 'is', true).order('id'));
await run('nulls', anon.from('todos').select('id, due').order('due', { ascending: true, nullsFirst: true }));
await run('contains', anon.from('todos').select('id').contains('tags', ['dairy']).order('id'));
await run('overlaps', anon.from('todos').select('id').overlaps('tags', ['outside', 'nowhere']));
await run('text_search', anon.from('todos').select('id').textSearch('title', 'cheese'));
await run('like', anon.from('todos').select('id').like('title', 'ch%'));
await run('is_null', anon.from('todos').select('id').is('due', null));
await run('range', anon.from('todos').select('id', { count: 'exact' }).order('id').range(0, 1));
await run('single', anon.from('todos').select('id, title').eq('id', 1).single());
await run('single_missing', anon.from('todos').select('id').eq('id', 999).single());
await run('maybe_single', anon.from('todos').select('id').eq('id', 999).maybeSingle());
await run('embed', anon.from('lists').select('name, todos(id, title)').order('id').order('id', { referencedTable: 'todos' }));
await run('embed_inner', anon.from('lists').select('name, todos!inner(id)').eq('todos.done', true));
await run('many_to_one', anon.from('todos').select('id, lists(name)').eq('id', 1).single());
await run('insert', anon.from('todos').insert({ title: 'bread', list_id: 1 }).select('title, done'));
await run('insert_many', anon.from('todos').insert([{ title: 'eggs', list_id: 2 }, { title: 'jam', list_id: 2 }]).select('title'));
await run('upsert', anon.from('todos').upsert({ id: 1, title: 'oat milk', list_id: 1 }).select('id, title'));
await run('update', anon.from('todos').update({ done: true }).eq('id', 2).select('id, done'));
await run('delete', anon.from('todos').delete().eq('title', 'jam').select('title'));
await run('rpc', anon.rpc('add', { a: 2, b: 40 }));
await run('missing_table', anon.from('nothing_here').select());
await run('duplicate', anon.from('todos').insert({ id: 1, title: 'again', list_id: 1 }));
await run('denied', anon.from('secrets').select());
await run('anon_notes', anon.from('notes').select('owner, body'));
await run('user_notes', user.from('notes').select('owner, body'));
await run('service_notes', service.from('notes').select('owner').order('owner'));
console.log(JSON.stringify(out));
