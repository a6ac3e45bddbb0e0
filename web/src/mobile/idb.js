// A tiny key-value store in IndexedDB, shared with the service worker
// (public/m/sw.js reads the same database): the worker has no localStorage,
// and it needs the user's token to confirm deliveries of pushes it shows.
const DB = 'herald-m';
const STORE = 'kv';

function open() {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') return reject(new Error('no IndexedDB'));
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const r = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(r && 'result' in r ? r.result : undefined);
      t.onerror = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

export const idbGet = (key) => tx('readonly', (s) => s.get(key)).catch(() => undefined);
export const idbSet = (key, value) => tx('readwrite', (s) => s.put(value, key)).catch(() => undefined);
export const idbDel = (key) => tx('readwrite', (s) => s.delete(key)).catch(() => undefined);
