// What makes the employee app a phone app: the service worker (offline shell,
// cached answers, pushes), the Web Push subscription and the "add to home
// screen" prompt. Permission is asked only when the user taps "Turn on" —
// never on load (browsers punish, and people resent, unprompted requests).
import { reactive } from 'vue';
import { api, session } from './session.js';

export const pwa = reactive({
  worker: null, // the ServiceWorkerRegistration
  workerError: null,
  permission: typeof Notification !== 'undefined' ? Notification.permission : 'unsupported',
  subscribed: false,
  pushError: null,
  installEvent: null, // beforeinstallprompt, kept for the button
  installed: false,
  dismissed: readDismissed(),
});

function readDismissed() {
  try {
    return JSON.parse(localStorage.getItem('herald.m.dismissed') || '{}');
  } catch {
    return {};
  }
}

export function dismiss(what) {
  pwa.dismissed = { ...pwa.dismissed, [what]: Date.now() };
  try {
    localStorage.setItem('herald.m.dismissed', JSON.stringify(pwa.dismissed));
  } catch {
    /* storage disabled */
  }
}

export const pushSupported = () =>
  typeof window !== 'undefined' && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

export async function registerWorker() {
  if (!('serviceWorker' in navigator)) return null;
  try {
    pwa.worker = await navigator.serviceWorker.register('/m/sw.js', { scope: '/m/' });
    await refreshPushState();
  } catch (e) {
    pwa.workerError = (e && e.message) || String(e);
  }
  navigator.serviceWorker.addEventListener('message', (ev) => {
    const d = ev.data || {};
    if (d.type === 'open' && d.url && typeof window !== 'undefined') window.__heraldOpen?.(d.url);
  });
  return pwa.worker;
}

export async function refreshPushState() {
  if (!pushSupported() || !pwa.worker) return;
  pwa.permission = Notification.permission;
  try {
    const sub = await pwa.worker.pushManager.getSubscription();
    pwa.subscribed = !!sub;
  } catch {
    pwa.subscribed = false;
  }
}

function keyBytes(b64url) {
  const s = b64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(s + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** Asks for permission (after a tap), subscribes with the server's VAPID key, registers the subscription. */
export async function enablePush() {
  pwa.pushError = null;
  if (!pushSupported()) {
    pwa.pushError = 'unsupported';
    return false;
  }
  const perm = await Notification.requestPermission();
  pwa.permission = perm;
  if (perm !== 'granted') return false;
  try {
    const reg = pwa.worker || (await navigator.serviceWorker.ready);
    const { public_key } = await api.get('/api/v2/push/vapid-key');
    let sub = await reg.pushManager.getSubscription();
    if (!sub)
      sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(public_key) });
    await api.post('/api/v2/push/subscriptions', sub.toJSON());
    pwa.subscribed = true;
    return true;
  } catch (e) {
    pwa.pushError = (e && e.message) || String(e);
    return false;
  }
}

// ---------------------------------------------------------------- install

if (typeof window !== 'undefined') {
  window.addEventListener('beforeinstallprompt', (e) => {
    e.preventDefault(); // shown by our own card, when the user is signed in
    pwa.installEvent = e;
  });
  window.addEventListener('appinstalled', () => {
    pwa.installed = true;
    pwa.installEvent = null;
  });
  if (window.matchMedia && window.matchMedia('(display-mode: standalone)').matches) pwa.installed = true;
}

export async function install() {
  const e = pwa.installEvent;
  if (!e) return false;
  pwa.installEvent = null;
  e.prompt();
  const choice = await e.userChoice.catch(() => null);
  if (choice && choice.outcome === 'accepted') pwa.installed = true;
  else dismiss('install');
  return !!(choice && choice.outcome === 'accepted');
}

export const signedIn = () => !!session.user;
