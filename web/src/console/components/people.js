// The people a user can pick from. /api/v2/users is for the host (tenant token) only, so
// a person's console knows the people of their own chats (members of every chat they are
// in), plus — on test setups with the development login — the tenant's user list.
import { session, devUsers } from '../session.js';

export async function knownPeople(store) {
  const byId = new Map();
  const chats = store.sortedChats.value.filter((c) => c.type !== 'inbox').slice(0, 60);
  await Promise.all(chats.map((c) => store.loadMembers(c.id)));
  for (const c of chats) for (const m of store.memberList(c.id)) byId.set(m.id, { id: m.id, name: m.name });
  if (session.devLogin && session.user && session.user.me.tenant) {
    try {
      const r = await devUsers(session.user.me.tenant.inn);
      for (const u of r.items) byId.set(u.id, { id: u.id, name: u.name });
    } catch {
      /* not on this server */
    }
  }
  const me = store.state.me;
  if (me) byId.delete(me.id);
  return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name));
}
