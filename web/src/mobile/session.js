// The employee app's session: signed in the way the original mobile app does it
// (/api/v1 auth → SMS code → confirmsmscode). The app token confirmsmscode returns is
// also an /api/v2 session, so the chats, the inbox and /ws use it as a Bearer token.
//
// Kept in localStorage (the page) and mirrored into IndexedDB (the service worker
// confirms push deliveries with it). Signing out forgets both and the cached API
// answers of the worker.
import { reactive, shallowRef } from 'vue';
import { createApi } from '../shared/api.js';
import { createRealtime } from '../shared/realtime.js';
import { createChatStore } from '../shared/chatStore.js';
import { locale } from '../shared/i18n.js';
import { readStored as read, writeStored as write } from '../shared/storage.js';
import { idbSet, idbDel } from './idb.js';

const KEY = 'herald.m.session';
const PENDING = 'herald.m.pending';


export const session = reactive({
  // { token, inn, phone, name, staffid, company, me }
  user: read(KEY),
  // the sign-in in progress between the two screens: { inn, phone, name }
  pending: read(PENDING),
  notice: null,
});

export const api = createApi({
  getToken: () => session.user && session.user.token,
  getLanguage: () => locale.value,
  onUnauthorized: () => signOut('expired'),
});

/** /api/v1 call in the original envelope; throws {code, message} on failure. */
async function v1(method, body) {
  let res;
  try {
    res = await fetch('/api/v1/' + method, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Accept-Language': locale.value },
      body: JSON.stringify(body),
      credentials: 'omit',
    });
  } catch (e) {
    const err = new Error((e && e.message) || 'network');
    err.code = 'network';
    throw err;
  }
  let j = null;
  try {
    j = await res.json();
  } catch {
    /* not JSON */
  }
  if (!res.ok || !j || !j.success) {
    const err = new Error((j && j.error) || 'HTTP ' + res.status);
    err.code = res.headers.get('x-herald-error') || 'http_' + res.status;
    err.status = res.status;
    throw err;
  }
  return j.data;
}

/** Normalises what people type: spaces, dashes and brackets go; a leading 8 stays for the server. */
export function cleanPhone(p) {
  return String(p || '').replace(/[\s()\-.]/g, '');
}

export async function requestCode({ inn, phone, name }) {
  const p = { inn: inn.trim(), phone: cleanPhone(phone), name: name.trim() };
  // "device" is what the original app sends; a browser is neither, android is the
  // closest kind (FCM tokens are never sent from here, Web Push goes through /api/v2).
  await v1('auth', { inn: p.inn, phone: p.phone, staffname: p.name, device: 'android' });
  session.pending = p;
  write(PENDING, p);
  return p;
}

export async function confirmCode(code) {
  const p = session.pending;
  if (!p) throw Object.assign(new Error('no sign-in in progress'), { code: 'no_pending' });
  const d = await v1('confirmsmscode', { inn: p.inn, phone: p.phone, smscode: String(code).trim() });
  const me = await api.get('/api/v2/me', null, { token: d.apitoken });
  session.user = {
    token: d.apitoken,
    inn: d.inn || p.inn,
    phone: d.phone || p.phone,
    name: d.staffname || p.name,
    staffid: d.staffid,
    company: d.firstname || (me.tenant && me.tenant.name) || '',
    me,
  };
  session.pending = null;
  write(PENDING, null);
  write(KEY, session.user);
  await idbSet('session', { token: d.apitoken });
  return session.user;
}

export function cancelPending() {
  session.pending = null;
  write(PENDING, null);
}

// ---------------------------------------------------------------- chats

export const chat = shallowRef(null); // { rt, store }

export function startChat() {
  if (chat.value || !session.user) return chat.value;
  const rt = createRealtime({ getToken: () => session.user && session.user.token });
  const store = createChatStore({ api, rt, me: session.user.me && session.user.me.user, limits: session.user.me && session.user.me.limits });
  rt.on('unauthorized', () => signOut('expired'));
  let first = true;
  rt.on('hello', () => {
    if (first) {
      first = false;
      store.loadChats();
    }
  });
  rt.connect();
  store.loadChats();
  chat.value = { rt, store };
  // the worker may have lost its copy (storage cleared); the page is the source
  idbSet('session', { token: session.user.token });
  return chat.value;
}

export function stopChat() {
  if (!chat.value) return;
  chat.value.rt.close();
  chat.value.store.destroy();
  chat.value = null;
}

export async function signOut(reason) {
  const token = session.user && session.user.token;
  stopChat();
  session.user = null;
  write(KEY, null);
  if (reason) session.notice = reason;
  await idbDel('session');
  // Stop pushes to this browser for this user, and forget the cached answers.
  try {
    const reg = 'serviceWorker' in navigator ? await navigator.serviceWorker.getRegistration('/m/') : null;
    const sub = reg && reg.pushManager ? await reg.pushManager.getSubscription() : null;
    if (sub && token && !reason) {
      await api.del('/api/v2/push/subscriptions', { token, body: { endpoint: sub.endpoint } }).catch(() => {});
      await sub.unsubscribe().catch(() => {});
    }
    if (reg && reg.active) reg.active.postMessage({ type: 'signed-out' });
  } catch {
    /* no worker: nothing cached */
  }
}
