// The employee app's service worker (scope /m/). Plain JavaScript, not bundled: it must
// keep the unhashed name /m/sw.js for the browser to find its updates (herald serves it
// with Cache-Control: no-cache).
//
// 1. Offline shell: on install it caches /m/ and the scripts and styles that page names;
//    navigations go to the network first and fall back to the cached page, hashed assets
//    come from the cache first (their names change with their content).
// 2. Offline data: GET /api/v2/* answers are kept (network first, cache when offline), so
//    what was loaded stays readable without a network. Signing out empties that cache.
// 3. Pushes: the payload herald sends (src/svc/delivery.c) is JSON
//    {"title","body","chat","seq","delivery","badge"}. The worker shows it, sets the app
//    badge, and confirms the delivery (POST /api/v2/deliveries/{delivery}/delivered) with
//    the user's token, which the page keeps for it in IndexedDB (src/mobile/idb.js).
//    Tapping the notification opens that chat.

const VERSION = 'herald-m-v1';
const SHELL = VERSION + '-shell';
const DATA = VERSION + '-data';

// ---------------------------------------------------------------- IndexedDB (as idb.js)

function idbOpen() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open('herald-m', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('kv');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function idbGet(key) {
  try {
    const db = await idbOpen();
    try {
      return await new Promise((resolve, reject) => {
        const r = db.transaction('kv', 'readonly').objectStore('kv').get(key);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- install and activate

async function precache() {
  const cache = await caches.open(SHELL);
  const res = await fetch('/m/', { cache: 'no-cache' });
  if (!res.ok) return;
  const html = await res.clone().text();
  await cache.put('/m/', res);
  // what the page loads first: its module scripts, preloads and styles
  const urls = new Set(['/m/manifest.webmanifest', '/m/icon.svg', '/m/icon-192.png']);
  for (const m of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) urls.add(m[1]);
  await Promise.all(
    [...urls].map((u) =>
      fetch(u)
        .then((r) => (r.ok ? cache.put(u, r) : null))
        .catch(() => null),
    ),
  );
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const k of await caches.keys()) if (!k.startsWith(VERSION)) await caches.delete(k);
      await self.clients.claim();
    })(),
  );
});

// ---------------------------------------------------------------- fetch

async function networkFirst(req, cacheName, fallbackUrl) {
  const cache = await caches.open(cacheName);
  try {
    const res = await fetch(req);
    if (res.ok && req.method === 'GET') cache.put(fallbackUrl || req, res.clone());
    return res;
  } catch (e) {
    const hit = (await cache.match(fallbackUrl || req)) || (fallbackUrl ? null : await cache.match(req, { ignoreSearch: false }));
    if (hit) return hit;
    throw e;
  }
}

async function cacheFirst(req) {
  const cache = await caches.open(SHELL);
  const hit = await cache.match(req);
  if (hit) return hit;
  const res = await fetch(req);
  if (res.ok) cache.put(req, res.clone());
  return res;
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === 'navigate' && url.pathname.startsWith('/m')) {
    // every client route of the app is the same page
    event.respondWith(networkFirst(req, SHELL, '/m/'));
  } else if (url.pathname.startsWith('/assets/') || /^\/m\/[^/]+\.(png|svg|webmanifest)$/.test(url.pathname)) {
    event.respondWith(cacheFirst(req));
  } else if (url.pathname.startsWith('/api/v2/') || url.pathname === '/healthz') {
    event.respondWith(networkFirst(req, DATA));
  }
});

// ---------------------------------------------------------------- messages from the page

self.addEventListener('message', (event) => {
  const d = event.data || {};
  if (d.type === 'signed-out') event.waitUntil(caches.delete(DATA));
});

// ---------------------------------------------------------------- push

async function confirmDelivery(delivery) {
  const s = await idbGet('session');
  if (!s || !s.token || !delivery) return false;
  try {
    const res = await fetch('/api/v2/deliveries/' + encodeURIComponent(delivery) + '/delivered', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + s.token },
    });
    return res.ok;
  } catch {
    return false; // offline: the server keeps the delivery as sent
  }
}

async function onPush(event) {
  let d = {};
  try {
    d = event.data ? event.data.json() : {};
  } catch {
    d = { body: event.data ? event.data.text() : '' };
  }
  const title = d.title || 'herald';
  // Shown or not (permission revoked, quota), the push reached this device: the
  // delivery is confirmed either way.
  const shown = self.registration.showNotification(title, {
    body: d.body || '',
    tag: d.chat ? 'chat-' + d.chat : undefined,
    renotify: !!d.chat,
    icon: '/m/icon-192.png',
    badge: '/m/badge-96.png',
    timestamp: Date.now(),
    data: { chat: d.chat || null, seq: d.seq || null, delivery: d.delivery || null },
  }).catch(() => null);
  await shown;
  if (typeof d.badge === 'number' && self.navigator.setAppBadge) {
    await (d.badge > 0 ? self.navigator.setAppBadge(d.badge) : self.navigator.clearAppBadge()).catch(() => {});
  }
  // open pages refresh their lists without waiting for their socket
  for (const c of await self.clients.matchAll({ type: 'window' })) c.postMessage({ type: 'push', ...d });
  await confirmDelivery(d.delivery);
}

self.addEventListener('push', (event) => {
  event.waitUntil(onPush(event));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const chat = event.notification.data && event.notification.data.chat;
  const target = chat ? '/m/chats/' + chat : '/m/inbox';
  event.waitUntil(
    (async () => {
      const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const w of wins) {
        if (new URL(w.url).pathname.startsWith('/m')) {
          w.postMessage({ type: 'open', url: target });
          return w.focus();
        }
      }
      return self.clients.openWindow(target);
    })(),
  );
});
