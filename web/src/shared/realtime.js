// A client for herald's /ws realtime protocol (docs/protocol.md), shared by the console,
// the employee app and the embed.
//
// What it guarantees to the screens above it:
// - one connection, authenticated by the first frame (browsers cannot set headers, and a
//   token in the URL ends up in access logs);
// - reconnect with exponential backoff and jitter, resuming from the last processed `pos`,
//   so a server restart costs nothing: missed events are replayed, none twice (events at or
//   below the last `pos`, and messages whose chat+seq was already seen, are dropped);
// - `resync_required` is passed up as a 'resync' event: the screen reloads over REST;
// - requests (send/read/edit/delete/subscribe) get a promise settled by the `ack` or
//   `error` with the same `id`. Unanswered requests are sent again after a reconnect —
//   `send` keeps its client_id, so the server stores the message once;
// - topic subscriptions are renewed after a reconnect from the last topic `seq` seen.
//
// Events emitted with on(type, fn): every server event type ('message', 'read',
// 'chat_created', …, 'typing', 'topic_event'), plus 'hello', 'resync', 'status'
// ({state, attempt, retryIn}), 'unauthorized' and '*' (every event frame).

const BACKOFF_MIN = 500;
const BACKOFF_MAX = 30000;
const PING_EVERY = 25000;
const PONG_WAIT = 10000;
const SEEN_MAX = 5000;

let clientSeq = 0;
export function newClientId() {
  clientSeq += 1;
  const rnd = Math.random().toString(36).slice(2, 10);
  return 'w-' + Date.now().toString(36) + '-' + rnd + '-' + clientSeq;
}

export function wsUrlFor(baseUrl) {
  const loc = typeof location !== 'undefined' ? location : null;
  let base = baseUrl || (loc ? loc.origin : 'http://localhost');
  base = base.replace(/\/+$/, '');
  return base.replace(/^http/, 'ws') + '/ws';
}

export class ApiLikeError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

/**
 * createRealtime({ baseUrl, getToken, user, pos, requestTimeout })
 */
export function createRealtime(opts = {}) {
  const listeners = new Map();
  const url = opts.url || wsUrlFor(opts.baseUrl);
  const requestTimeout = opts.requestTimeout || 20000;
  let ws = null;
  let state = 'idle'; // idle | connecting | open | offline | unauthorized | closed
  let wanted = false;
  let attempt = 0;
  let retryTimer = null;
  let pingTimer = null;
  let pongTimer = null;
  let lastPos = typeof opts.pos === 'number' ? opts.pos : null;
  let nextId = 1;
  let user = null;
  const pending = new Map(); // id -> { frame, resolve, reject, timer }
  const seen = new Set(); // "chat:seq" of message events already delivered
  const seenOrder = [];
  const topics = new Map(); // topic -> last seq processed (or null)
  const typingSent = new Map(); // chat -> time

  function emit(type, data) {
    const set = listeners.get(type);
    if (set) for (const fn of [...set]) safe(fn, data);
    if (type !== '*' && data && data.__event) {
      const all = listeners.get('*');
      if (all) for (const fn of [...all]) safe(fn, data);
    }
  }
  function safe(fn, data) {
    try {
      fn(data);
    } catch (e) {
      console.error('[realtime] listener failed', e);
    }
  }
  function setState(s, extra) {
    state = s;
    emit('status', { state: s, attempt, ...(extra || {}) });
  }

  function rawSend(obj) {
    if (ws && ws.readyState === 1) {
      ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  function connect() {
    wanted = true;
    if (ws && (ws.readyState === 0 || ws.readyState === 1)) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    const token = opts.getToken ? opts.getToken() : null;
    if (!token) {
      setState('unauthorized');
      return;
    }
    setState('connecting');
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    let helloSeen = false;
    sock.onopen = () => {
      const auth = { type: 'auth', token };
      if (opts.user) auth.user = opts.user;
      if (lastPos !== null) auth.pos = lastPos;
      sock.send(JSON.stringify(auth));
    };
    sock.onmessage = (ev) => {
      if (sock !== ws) return;
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!f || typeof f !== 'object') return;
      if (f.type === 'hello') {
        helloSeen = true;
        attempt = 0;
        user = f.user || null;
        if (lastPos === null || typeof f.pos !== 'number') lastPos = f.pos;
        else if (f.pos > lastPos) lastPos = f.pos;
        setState('open');
        emit('hello', f);
        startPing();
        // Requests that were waiting for a connection, or unanswered on the old one.
        for (const [id, p] of pending) {
          p.frame.id = id;
          if (rawSend(p.frame) && p.ms) arm(id, p);
        }
        for (const [topic, after] of topics) subscribeFrame(topic, after);
        return;
      }
      handleFrame(f);
    };
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      ws = null;
      stopPing();
      for (const [, p] of pending) {
        clearTimeout(p.timer);
        p.timer = null;
      }
      if (ev.code === 4401) {
        wanted = false;
        setState('unauthorized', { code: ev.code, reason: ev.reason });
        emit('unauthorized', { code: ev.code, reason: ev.reason });
        return;
      }
      if (ev.code === 4403) {
        wanted = false;
        setState('closed', { code: ev.code, reason: ev.reason });
        emit('forbidden', { code: ev.code, reason: ev.reason });
        return;
      }
      if (!wanted) {
        setState('closed');
        return;
      }
      if (helloSeen) attempt = 0;
      scheduleReconnect();
    };
    sock.onerror = () => {
      /* onclose follows and decides */
    };
  }

  function scheduleReconnect() {
    if (!wanted) return;
    attempt += 1;
    const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** (attempt - 1));
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    setState('offline', { retryIn: delay, retryAt: Date.now() + delay });
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect();
    }, delay);
  }

  function startPing() {
    stopPing();
    pingTimer = setInterval(() => {
      if (!rawSend({ type: 'ping', id: 'hb' })) return;
      clearTimeout(pongTimer);
      // No pong: the connection is dead without a close (laptop sleep, lost route).
      pongTimer = setTimeout(() => {
        if (ws) ws.close(4000, 'no pong');
      }, PONG_WAIT);
    }, PING_EVERY);
  }
  function stopPing() {
    clearInterval(pingTimer);
    clearTimeout(pongTimer);
    pingTimer = null;
    pongTimer = null;
  }

  function remember(key) {
    seen.add(key);
    seenOrder.push(key);
    if (seenOrder.length > SEEN_MAX) seen.delete(seenOrder.shift());
  }

  function handleFrame(f) {
    switch (f.type) {
      case 'pong':
        clearTimeout(pongTimer);
        return;
      case 'ack': {
        const p = pending.get(f.id);
        if (!p) return;
        pending.delete(f.id);
        clearTimeout(p.timer);
        if (p.frame.type === 'subscribe' && f.result) {
          if (!topics.has(p.frame.topic) || topics.get(p.frame.topic) == null)
            topics.set(p.frame.topic, f.result.seq);
        }
        p.resolve(f.result);
        return;
      }
      case 'error': {
        if (f.id !== undefined && pending.has(f.id)) {
          const p = pending.get(f.id);
          pending.delete(f.id);
          clearTimeout(p.timer);
          if (p.frame.type === 'subscribe') topics.delete(p.frame.topic);
          p.reject(new ApiLikeError(f.code, f.message));
        } else {
          emit('protocol_error', f);
        }
        return;
      }
      case 'resync_required':
        if (typeof f.pos === 'number') lastPos = f.pos;
        seen.clear();
        seenOrder.length = 0;
        emit('resync', f);
        return;
      case 'typing':
        emit('typing', f);
        return;
      case 'topic_event': {
        const last = topics.get(f.topic);
        if (last != null && typeof f.seq === 'number' && f.seq <= last) return;
        if (topics.has(f.topic)) topics.set(f.topic, f.seq);
        emit('topic_event', { ...f, __event: true });
        return;
      }
      default:
        break;
    }
    if (typeof f.pos === 'number') {
      if (lastPos !== null && f.pos <= lastPos) return; // replayed twice: already processed
      lastPos = f.pos;
    }
    if (f.type === 'message' && f.message) {
      const key = f.message.chat + ':' + f.message.seq;
      if (seen.has(key)) return;
      remember(key);
    }
    emit(f.type, { ...f, __event: true });
  }

  // The answer timer runs only while the frame is on a live connection: a request made
  // offline waits for the reconnect (and is sent then) instead of failing after a while.
  function arm(id, p) {
    clearTimeout(p.timer);
    p.timer = null;
    if (!p.ms) return;
    p.timer = setTimeout(() => {
      if (!pending.has(id)) return;
      pending.delete(id);
      p.reject(new ApiLikeError('timeout', 'no answer from the server'));
    }, p.ms);
  }

  function request(frame, { timeout } = {}) {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      const ms = timeout === undefined ? requestTimeout : timeout;
      const p = { frame: { ...frame, id }, resolve, reject, timer: null, ms };
      pending.set(id, p);
      if (state === 'open' && rawSend(p.frame)) arm(id, p);
      else if (wanted && !ws) connect();
    });
  }

  function subscribeFrame(topic, after) {
    const frame = { type: 'subscribe', topic };
    if (after != null) frame.after = after;
    const id = nextId++;
    const p = {
      frame: { ...frame, id },
      resolve: () => {},
      reject: (e) => emit('topic_error', { topic, error: e }),
      timer: null,
    };
    pending.set(id, p);
    rawSend(p.frame);
  }

  return {
    connect,
    close() {
      wanted = false;
      clearTimeout(retryTimer);
      stopPing();
      for (const [, p] of pending) {
        clearTimeout(p.timer);
        p.reject(new ApiLikeError('closed', 'connection closed'));
      }
      pending.clear();
      if (ws) {
        const s = ws;
        ws = null;
        s.close(1000);
      }
      setState('closed');
    },
    /** Reconnect at once (e.g. the browser came back online). */
    retryNow() {
      if (!wanted) return;
      if (state === 'offline') {
        clearTimeout(retryTimer);
        retryTimer = null;
        connect();
      }
    },
    on(type, fn) {
      if (!listeners.has(type)) listeners.set(type, new Set());
      listeners.get(type).add(fn);
      return () => listeners.get(type).delete(fn);
    },
    send(chat, text, { clientId, replyTo, attachments } = {}) {
      const frame = { type: 'send', chat, text, client_id: clientId || newClientId() };
      if (replyTo) frame.reply_to = replyTo;
      if (attachments && attachments.length) frame.attachments = attachments;
      return request(frame);
    },
    read(chat, seq) {
      return request({ type: 'read', chat, seq });
    },
    edit(chat, seq, text) {
      return request({ type: 'edit', chat, seq, text });
    },
    remove(chat, seq) {
      return request({ type: 'delete', chat, seq });
    },
    delivered(delivery) {
      return request({ type: 'delivered', delivery });
    },
    typing(chat) {
      const now = Date.now();
      if (now - (typingSent.get(chat) || 0) < 2500) return;
      typingSent.set(chat, now);
      rawSend({ type: 'typing', chat });
    },
    /** Subscribe to a topic; after = last seq processed (replay from there) or null. */
    subscribe(topic, after = null) {
      topics.set(topic, after);
      if (state === 'open') subscribeFrame(topic, after);
    },
    unsubscribe(topic) {
      topics.delete(topic);
      if (state === 'open') rawSend({ type: 'unsubscribe', topic, id: nextId++ });
    },
    /** Forget what was seen (after the screen reloaded everything over REST). */
    forgetSeen() {
      seen.clear();
      seenOrder.length = 0;
    },
    get state() {
      return state;
    },
    get pos() {
      return lastPos;
    },
    get user() {
      return user;
    },
  };
}
