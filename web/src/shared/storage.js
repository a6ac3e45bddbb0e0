// JSON values in localStorage that survive a reload; a browser with storage disabled
// (private modes, policies) keeps them only as long as the tab.
export function readStored(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

export function writeStored(key, v) {
  try {
    if (v) localStorage.setItem(key, JSON.stringify(v));
    else localStorage.removeItem(key);
  } catch {
    /* storage disabled: the value lasts as long as the tab */
  }
}
