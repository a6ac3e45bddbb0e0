// Who is signed in to the console, and the clients that go with it.
//
// The console holds up to two independent sessions:
// - a user session (a person chatting): a token from a host-minted link (/#/login?token=…)
//   or from the development login; it drives the chat store and the /ws connection;
// - a cabinet session (the company's administrator): POST /api/v2/cabinet/login with INN and
//   password; it acts as the tenant and drives the cabinet pages.
// Each is kept in localStorage so a reload keeps you signed in; a 401 on either ends it.
import { reactive, shallowRef } from 'vue';
import { createApi } from '../shared/api.js';
import { createRealtime } from '../shared/realtime.js';
import { createChatStore } from '../shared/chatStore.js';
import { locale } from '../shared/i18n.js';
import { readStored as read, writeStored as write } from '../shared/storage.js';

const KEY_USER = 'herald.session.user';
const KEY_CAB = 'herald.session.cabinet';


export const session = reactive({
  user: read(KEY_USER), // { token, me: {kind, tenant, user}, expires_at }
  cabinet: read(KEY_CAB), // { token, tenant: {inn, name}, expires_at }
  devLogin: null, // null = unknown, true/false once probed
  notice: null, // a message for the sign-in page (e.g. "session ended")
});

export const userApi = createApi({
  getToken: () => session.user && session.user.token,
  getLanguage: () => locale.value,
  onUnauthorized: () => endUser('expired'),
});
export const cabinetApi = createApi({
  getToken: () => session.cabinet && session.cabinet.token,
  getLanguage: () => locale.value,
  onUnauthorized: () => endCabinet('expired'),
});
/** For calls without a token (sign-in, development login). */
export const publicApi = createApi({ getLanguage: () => locale.value });

// The chat runtime exists while a user session does.
export const chat = shallowRef(null); // { rt, store }

export function startChat() {
  if (chat.value || !session.user) return chat.value;
  const rt = createRealtime({ getToken: () => session.user && session.user.token });
  const store = createChatStore({ api: userApi, rt, me: session.user.me.user, limits: session.user.me.limits });
  rt.on('unauthorized', () => endUser('expired'));
  // The list is loaded at once (to show something) and again after the first hello: events
  // between the REST answer and the start of the stream would otherwise be missed. Later
  // reconnects resume from the last pos and need no reload.
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
  return chat.value;
}

export function stopChat() {
  if (!chat.value) return;
  chat.value.rt.close();
  chat.value.store.destroy();
  chat.value = null;
}

export async function signInWithToken(token) {
  const me = await userApi.get('/api/v2/me', null, { token });
  if (me.kind !== 'user') {
    const e = new Error('not a user token');
    e.code = 'not_user_token';
    throw e;
  }
  stopChat();
  session.user = { token, me };
  write(KEY_USER, session.user);
  return me;
}

export async function devUsers(inn) {
  return publicApi.get('/api/v2/dev/users', { inn });
}

export async function devSignIn(inn, user) {
  const s = await publicApi.post('/api/v2/dev/login', { inn, user });
  return signInWithToken(s.token);
}

/** Is the development login switched on? 403 = off; anything else (404 unknown_inn) = on. */
export async function probeDevLogin() {
  if (session.devLogin !== null) return session.devLogin;
  try {
    await publicApi.get('/api/v2/dev/users', { inn: '0000000000' });
    session.devLogin = true;
  } catch (e) {
    session.devLogin = e.status !== 403 && e.code !== 'forbidden' && e.status !== 0;
  }
  return session.devLogin;
}

export async function cabinetSignIn(inn, password) {
  const r = await publicApi.post('/api/v2/cabinet/login', { inn, password });
  session.cabinet = { token: r.token, tenant: r.tenant, expires_at: r.expires_at };
  write(KEY_CAB, session.cabinet);
  return r;
}

export function endUser(reason) {
  stopChat();
  session.user = null;
  write(KEY_USER, null);
  if (reason) session.notice = reason;
}

export async function endCabinet(reason) {
  const c = session.cabinet;
  session.cabinet = null;
  write(KEY_CAB, null);
  if (reason) session.notice = reason;
  if (c && !reason) {
    try {
      await publicApi.post('/api/v2/cabinet/logout', undefined, { token: c.token });
    } catch {
      /* the session ends on our side anyway */
    }
  }
}

export function signOutAll() {
  endUser();
  endCabinet();
}

export function isTenantAdmin() {
  const u = session.user && session.user.me && session.user.me.user;
  return !!(u && (u.roles || []).includes('admin'));
}
export function canCreateGroups() {
  const u = session.user && session.user.me && session.user.me.user;
  return !!(u && (u.roles || []).some((r) => r === 'admin' || r === 'dispatcher'));
}
