// The people a user can pick from: the tenant's directory (GET /api/v2/directory, active
// colleagues by name, id and avatar; any user may look them up), read page by page up to
// DIRECTORY_MAX people, which the picker then filters as the user types. On a server
// without the directory (older builds) it falls back to the members of the user's own
// chats.
import { session, userApi } from '../session.js';

const DIRECTORY_MAX = 2000;

async function directory() {
  const all = [];
  let cursor;
  do {
    const r = await userApi.get('/api/v2/directory', { limit: 200, cursor });
    all.push(...r.items.map((p) => ({ id: p.id, name: p.name, avatar_url: p.avatar_url })));
    cursor = r.next_cursor;
  } while (cursor && all.length < DIRECTORY_MAX);
  return all;
}

async function chatMembers(store) {
  const chats = store.sortedChats.value.filter((c) => c.type !== 'inbox').slice(0, 60);
  await Promise.all(chats.map((c) => store.loadMembers(c.id)));
  const out = [];
  for (const c of chats) for (const m of store.memberList(c.id)) out.push({ id: m.id, name: m.name });
  return out;
}

export async function knownPeople(store) {
  const byId = new Map();
  let list;
  try {
    list = await directory();
  } catch {
    list = await chatMembers(store);
  }
  for (const p of list) byId.set(p.id, p);
  const me = store.state.me || (session.user && session.user.me && session.user.me.user);
  if (me) byId.delete(me.id);
  return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name));
}
