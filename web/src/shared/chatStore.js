// The chat state of one signed-in user, shared by the console, the employee app and the
// embed: REST loads it (chat list, history pages, members), the realtime stream keeps it
// current, and the outbox holds messages on their way.
//
// Rules that keep screens honest:
// - messages of a chat are kept sorted by seq, one entry per seq (an event and a REST page
//   that overlap merge instead of doubling);
// - a message we sent lives in the outbox (pending → failed) until its ack or its `message`
//   event, matched by client_id; it is never shown twice;
// - after `resync_required`, or a reconnect that could not resume, everything on screen is
//   reloaded over REST;
// - read receipts come from the members' last_read_seq, moved by `read` events.
import { reactive, computed } from 'vue';
import { newClientId } from './realtime.js';

export const TEXT_MAX = 4000;
const PAGE = 50;
const DRAFTS_KEY = 'herald.drafts';

function loadDrafts() {
  try {
    return JSON.parse(localStorage.getItem(DRAFTS_KEY) || '{}') || {};
  } catch {
    return {};
  }
}

export function createChatStore({ api, rt, me, limits }) {
  // The server's own limit (GET /api/v2/me "limits"), 4000 characters when it does not say.
  const textMax = (limits && limits.text_max) || TEXT_MAX;
  const state = reactive({
    me: me || null, // the user object
    chats: {}, // id -> chat (ChatListItem fields)
    listLoaded: false,
    listLoading: false,
    listError: null,
    messages: {}, // id -> { items, hasMore, loading, loadingOlder, error, loaded }
    members: {}, // id -> { items, loading, error }
    names: {}, // user id -> name (from members, senders)
    typing: {}, // chat id -> { user id: expiry time }
    outbox: {}, // chat id -> [{ client_id, text, reply_to, status, error, created_at }]
    drafts: loadDrafts(),
    activeChat: null,
    connection: rt ? rt.state : 'idle',
    resyncs: 0,
  });
  const messageHooks = new Set();

  // ---------------------------------------------------------------- chat list
  const sortedChats = computed(() =>
    Object.values(state.chats)
      .filter((c) => !c.deleted && !c.left)
      .sort((a, b) => {
        if (!!a.pinned !== !!b.pinned) return a.pinned ? -1 : 1;
        const ta = a.last_message_at || a.created_at || '';
        const tb = b.last_message_at || b.created_at || '';
        if (ta !== tb) return ta < tb ? 1 : -1;
        return b.id - a.id;
      }),
  );
  const totalUnread = computed(() =>
    sortedChats.value.reduce((n, c) => n + (c.muted ? 0 : Math.max(0, c.unread || 0)), 0),
  );

  function upsertChat(c) {
    const old = state.chats[c.id];
    const merged = { unread: 0, last_read_seq: 0, pinned: false, muted: false, last_message: null, ...(old || {}), ...c };
    if (typeof merged.last_seq === 'number' && typeof merged.last_read_seq === 'number')
      merged.unread = Math.max(0, merged.last_seq - merged.last_read_seq);
    state.chats[c.id] = merged;
    if (merged.type === 'direct' && !merged.title) ensureDirectName(merged.id);
    return merged;
  }

  async function loadChats() {
    state.listLoading = true;
    state.listError = null;
    try {
      const seen = new Set();
      let cursor = null;
      do {
        const page = await api.get('/api/v2/chats', { limit: 200, cursor });
        for (const c of page.items) {
          seen.add(c.id);
          const old = state.chats[c.id];
          upsertChat({ ...c, left: false, peer: old && old.peer });
        }
        cursor = page.next_cursor;
      } while (cursor);
      // Chats gone from the list (left or deleted while away) — keep the open one visible.
      for (const id of Object.keys(state.chats)) {
        if (!seen.has(Number(id)) && Number(id) !== state.activeChat) delete state.chats[id];
      }
      state.listLoaded = true;
    } catch (e) {
      state.listError = e;
    } finally {
      state.listLoading = false;
    }
  }

  async function fetchChat(id) {
    try {
      const c = await api.get('/api/v2/chats/' + id);
      const unreadBase = { last_read_seq: c.last_read_seq ?? 0 };
      return upsertChat({ ...c, ...unreadBase });
    } catch (e) {
      return null;
    }
  }

  const directPending = new Set();
  async function ensureDirectName(id) {
    if (directPending.has(id)) return;
    directPending.add(id);
    const m = await loadMembers(id);
    const other = m && m.find((x) => !state.me || x.id !== state.me.id);
    if (other && state.chats[id]) state.chats[id].peer = { id: other.id, name: other.name };
  }

  function chatTitle(c) {
    if (!c) return '';
    if (c.title) return c.title;
    if (c.type === 'direct' && c.peer) return c.peer.name;
    return '';
  }

  // ---------------------------------------------------------------- members
  async function loadMembers(id, force) {
    const cur = state.members[id];
    if (cur && cur.items && !force) return cur.items;
    state.members[id] = { items: cur ? cur.items : null, loading: true, error: null };
    try {
      const r = await api.get('/api/v2/chats/' + id + '/members');
      state.members[id] = { items: r.items, loading: false, error: null };
      for (const m of r.items) state.names[m.id] = m.name;
      return r.items;
    } catch (e) {
      state.members[id] = { items: cur ? cur.items : null, loading: false, error: e };
      return null;
    }
  }

  function memberList(id) {
    return (state.members[id] && state.members[id].items) || [];
  }

  // ---------------------------------------------------------------- messages
  function box(id) {
    if (!state.messages[id])
      state.messages[id] = { items: [], hasMore: true, loading: false, loadingOlder: false, error: null, loaded: false };
    return state.messages[id];
  }

  function insertMessages(id, list) {
    const b = box(id);
    if (!list.length) return;
    const bySeq = new Map(b.items.map((m) => [m.seq, m]));
    for (const m of list) {
      bySeq.set(m.seq, m);
      if (m.sender && m.sender_name) state.names[m.sender] = m.sender_name;
    }
    b.items = [...bySeq.values()].sort((a, c) => a.seq - c.seq);
    // The outbox entry of a message the server has is done.
    const ob = state.outbox[id];
    if (ob && ob.length) {
      const ids = new Set(list.map((m) => m.client_id).filter(Boolean));
      state.outbox[id] = ob.filter((o) => !ids.has(o.client_id));
    }
  }

  async function loadLatest(id) {
    const b = box(id);
    b.loading = true;
    b.error = null;
    try {
      const r = await api.get('/api/v2/chats/' + id + '/messages', { limit: PAGE });
      const items = r.items.slice().reverse();
      // Keep what we had only if it joins the new page (no hole in between).
      const minNew = items.length ? items[0].seq : Infinity;
      const maxOld = b.items.length ? b.items[b.items.length - 1].seq : 0;
      if (items.length && maxOld < minNew - 1) b.items = [];
      insertMessages(id, items);
      if (!b.loaded || maxOld < minNew - 1) b.hasMore = r.more;
      b.loaded = true;
      const c = state.chats[id];
      if (c && typeof r.last_seq === 'number' && r.last_seq > (c.last_seq || 0)) c.last_seq = r.last_seq;
    } catch (e) {
      b.error = e;
    } finally {
      b.loading = false;
    }
  }

  async function loadOlder(id) {
    const b = box(id);
    if (b.loadingOlder || !b.hasMore || !b.items.length) return;
    b.loadingOlder = true;
    try {
      const r = await api.get('/api/v2/chats/' + id + '/messages', { before: b.items[0].seq, limit: PAGE });
      insertMessages(id, r.items.slice().reverse());
      b.hasMore = r.more;
    } catch (e) {
      b.error = e;
    } finally {
      b.loadingOlder = false;
    }
  }

  async function catchUp(id) {
    const b = state.messages[id];
    if (!b || !b.loaded) return;
    const last = b.items.length ? b.items[b.items.length - 1].seq : 0;
    try {
      let after = last;
      for (;;) {
        const r = await api.get('/api/v2/chats/' + id + '/messages', { after, limit: 200 });
        insertMessages(id, r.items);
        if (!r.more || !r.items.length) break;
        after = r.items[r.items.length - 1].seq;
      }
    } catch (e) {
      b.error = e;
    }
  }

  async function openChat(id) {
    state.activeChat = id;
    if (!state.chats[id]) await fetchChat(id);
    const tasks = [loadMembers(id)];
    const b = box(id);
    if (!b.loaded) tasks.push(loadLatest(id));
    else tasks.push(catchUp(id));
    await Promise.all(tasks);
  }

  function closeChat() {
    state.activeChat = null;
  }

  // ---------------------------------------------------------------- reading
  async function markRead(id) {
    const c = state.chats[id];
    if (!c || !rt) return;
    const b = state.messages[id];
    const last = Math.max(c.last_seq || 0, b && b.items.length ? b.items[b.items.length - 1].seq : 0);
    if (last <= (c.last_read_seq || 0)) return;
    c.last_read_seq = last;
    c.unread = 0;
    try {
      const r = await rt.read(id, last);
      if (r && typeof r.unread === 'number') {
        c.unread = r.unread;
        c.last_read_seq = r.last_read_seq;
      }
    } catch {
      /* a read is retried by the next one */
    }
  }

  /** {read, total, names} for a message of the caller; null when not applicable. */
  function receipt(id, msg) {
    const members = memberList(id);
    if (!members.length) return null;
    const others = members.filter((m) => m.id !== msg.sender);
    const readers = others.filter((m) => (m.last_read_seq || 0) >= msg.seq);
    return { read: readers.length, total: others.length, names: readers.map((m) => m.name) };
  }

  // ---------------------------------------------------------------- sending
  function outbox(id) {
    if (!state.outbox[id]) state.outbox[id] = [];
    return state.outbox[id];
  }

  function send(id, text, { replyTo, attachments } = {}) {
    const entry = reactive({
      client_id: newClientId(),
      chat: id,
      text,
      reply_to: replyTo || null,
      attachments: attachments || [],
      status: 'pending',
      error: null,
      created_at: new Date().toISOString(),
    });
    outbox(id).push(entry);
    transmit(entry);
    return entry;
  }

  async function transmit(entry) {
    entry.status = 'pending';
    entry.error = null;
    try {
      const msg = await rt.send(entry.chat, entry.text, {
        clientId: entry.client_id,
        replyTo: entry.reply_to,
        attachments: (entry.attachments || []).map((a) => a.id),
      });
      if (msg) {
        applyMessage(msg, true);
      }
    } catch (e) {
      // Still in the outbox (the event may have arrived meanwhile and removed it).
      if (outbox(entry.chat).includes(entry)) {
        entry.status = 'failed';
        entry.error = e;
      }
    }
  }

  function retry(id, clientId) {
    const e = outbox(id).find((o) => o.client_id === clientId);
    if (e) transmit(e);
  }

  function discard(id, clientId) {
    state.outbox[id] = outbox(id).filter((o) => o.client_id !== clientId);
  }

  function setDraft(id, text) {
    if (text) state.drafts[id] = text;
    else delete state.drafts[id];
    try {
      localStorage.setItem(DRAFTS_KEY, JSON.stringify(state.drafts));
    } catch {
      /* storage full or disabled: drafts live in memory */
    }
  }

  async function editMessage(id, seq, text) {
    const m = await rt.edit(id, seq, text);
    if (m) applyMessage(m, false);
    return m;
  }

  async function deleteMessage(id, seq) {
    await rt.remove(id, seq);
    applyDeleted(id, seq);
  }

  // ---------------------------------------------------------------- settings & management
  async function setSettings(id, patch) {
    const c = state.chats[id];
    const before = c ? { pinned: c.pinned, muted: c.muted } : null;
    if (c) Object.assign(c, patch);
    try {
      const r = await api.patch('/api/v2/chats/' + id + '/settings', patch);
      if (c) Object.assign(c, { pinned: r.pinned, muted: r.muted });
      return r;
    } catch (e) {
      if (c && before) Object.assign(c, before);
      throw e;
    }
  }

  // ---------------------------------------------------------------- events
  function applyMessage(m, fromSelf) {
    const id = m.chat;
    let c = state.chats[id];
    if (!c) {
      fetchChat(id);
      return;
    }
    const isNew = m.seq > (c.last_seq || 0);
    if (isNew) {
      c.last_seq = m.seq;
      c.last_message_at = m.created_at;
    }
    if (!c.last_message || m.seq >= c.last_message.seq) {
      c.last_message = {
        seq: m.seq,
        sender: m.sender,
        sender_name: m.sender_name,
        text: m.deleted ? '' : m.text,
        created_at: m.created_at,
        deleted: m.deleted,
        kind: m.kind,
        title: m.title,
        attachments: (m.attachments || []).length,
      };
    }
    if (state.me && m.sender === state.me.id) {
      c.last_read_seq = Math.max(c.last_read_seq || 0, m.seq);
    }
    c.unread = Math.max(0, (c.last_seq || 0) - (c.last_read_seq || 0));
    const b = state.messages[id];
    if (b && b.loaded) {
      const last = b.items.length ? b.items[b.items.length - 1].seq : 0;
      insertMessages(id, [m]);
      if (m.seq > last + 1 && last > 0) catchUp(id); // a hole: fetch what is between
    } else if (b && b.loading) {
      // The first page is on its way and may have been read before this message was
      // committed: keep it, loadLatest merges the page with it.
      insertMessages(id, [m]);
    } else if (state.outbox[id]) {
      state.outbox[id] = state.outbox[id].filter((o) => o.client_id !== m.client_id);
    }
    if (m.sender && state.typing[id]) delete state.typing[id][m.sender];
    return isNew && !fromSelf;
  }

  function applyDeleted(id, seq) {
    const b = state.messages[id];
    if (b) {
      const m = b.items.find((x) => x.seq === seq);
      if (m) Object.assign(m, { deleted: true, text: '', title: '', mentions: [], attachments: [] });
    }
    const c = state.chats[id];
    if (c && c.last_message && c.last_message.seq === seq) Object.assign(c.last_message, { deleted: true, text: '' });
  }

  function onEvent(ev) {
    switch (ev.type) {
      case 'message': {
        const m = ev.message;
        const isNew = applyMessage(m, false);
        const mine = state.me && m.sender === state.me.id;
        if (isNew && !mine) for (const fn of messageHooks) fn(m, state.chats[m.chat]);
        break;
      }
      case 'message_updated': {
        const m = ev.message;
        const b = state.messages[m.chat];
        if (b && b.loaded) insertMessages(m.chat, [m]);
        const c = state.chats[m.chat];
        if (c && c.last_message && c.last_message.seq === m.seq) c.last_message.text = m.text;
        break;
      }
      case 'message_deleted':
        applyDeleted(ev.chat, ev.seq);
        break;
      case 'read': {
        if (state.me && ev.user === state.me.id) {
          const c = state.chats[ev.chat];
          if (c) {
            c.last_read_seq = Math.max(c.last_read_seq || 0, ev.seq);
            c.unread = Math.max(0, (c.last_seq || 0) - c.last_read_seq);
          }
        }
        const mm = state.members[ev.chat];
        if (mm && mm.items) {
          const m = mm.items.find((x) => x.id === ev.user);
          if (m) m.last_read_seq = Math.max(m.last_read_seq || 0, ev.seq);
        }
        break;
      }
      case 'chat_created':
        upsertChat({ ...ev.chat, left: false });
        fetchChat(ev.chat.id);
        break;
      case 'chat_updated':
      case 'chat_restored':
        if (state.chats[ev.chat.id]) upsertChat({ ...ev.chat });
        else fetchChat(ev.chat.id);
        break;
      case 'chat_deleted':
        if (state.chats[ev.chat]) state.chats[ev.chat].deleted = true;
        break;
      case 'chat_settings': {
        const c = state.chats[ev.chat];
        if (c) Object.assign(c, { pinned: ev.pinned, muted: ev.muted });
        break;
      }
      case 'member_added':
      case 'member_updated': {
        const mm = state.members[ev.chat];
        state.names[ev.member.id] = ev.member.name;
        if (mm && mm.items) {
          const i = mm.items.findIndex((x) => x.id === ev.member.id);
          if (i >= 0) mm.items[i] = ev.member;
          else mm.items.push(ev.member);
        }
        if (state.me && ev.member.id === state.me.id && state.chats[ev.chat]) state.chats[ev.chat].role = ev.member.role;
        break;
      }
      case 'member_removed': {
        if (state.me && ev.user === state.me.id) {
          const c = state.chats[ev.chat];
          if (c) c.left = true;
        }
        const mm = state.members[ev.chat];
        if (mm && mm.items) mm.items = mm.items.filter((x) => x.id !== ev.user);
        break;
      }
      case 'typing': {
        if (!state.typing[ev.chat]) state.typing[ev.chat] = {};
        state.typing[ev.chat][ev.user] = Date.now() + 5000;
        setTimeout(pruneTyping, 5100);
        break;
      }
      default:
        break;
    }
  }

  function pruneTyping() {
    const now = Date.now();
    for (const [chat, users] of Object.entries(state.typing)) {
      for (const [u, until] of Object.entries(users)) if (until <= now) delete users[u];
      if (!Object.keys(users).length) delete state.typing[chat];
    }
  }

  function typingNames(id) {
    const t = state.typing[id];
    if (!t) return [];
    const now = Date.now();
    return Object.entries(t)
      .filter(([, until]) => until > now)
      .map(([u]) => state.names[u] || u);
  }

  /** Reload everything on screen (after resync_required or a failed resume). */
  async function resync() {
    state.resyncs += 1;
    if (rt) rt.forgetSeen();
    await loadChats();
    const open = state.activeChat;
    for (const id of Object.keys(state.messages)) {
      if (Number(id) === open) continue;
      delete state.messages[id]; // reloaded when opened again
    }
    if (open) {
      await Promise.all([loadLatest(open), loadMembers(open, true)]);
    }
  }

  const offs = [];
  function attach() {
    if (!rt) return;
    const types = [
      'message', 'message_updated', 'message_deleted', 'read', 'chat_created', 'chat_updated',
      'chat_deleted', 'chat_restored', 'chat_settings', 'member_added', 'member_updated',
      'member_removed', 'typing',
    ];
    for (const t of types) offs.push(rt.on(t, onEvent));
    offs.push(rt.on('resync', () => resync()));
    offs.push(
      rt.on('status', (s) => {
        state.connection = s.state;
      }),
    );
  }
  attach();

  return {
    state,
    sortedChats,
    totalUnread,
    chatTitle,
    loadChats,
    fetchChat,
    upsertChat,
    loadMembers,
    memberList,
    loadLatest,
    loadOlder,
    catchUp,
    openChat,
    closeChat,
    markRead,
    receipt,
    send,
    retry,
    discard,
    setDraft,
    editMessage,
    deleteMessage,
    setSettings,
    typingNames,
    typing(id) {
      if (rt) rt.typing(id);
    },
    resync,
    onNewMessage(fn) {
      messageHooks.add(fn);
      return () => messageHooks.delete(fn);
    },
    destroy() {
      offs.forEach((f) => f());
    },
    TEXT_MAX,
    textMax,
  };
}
