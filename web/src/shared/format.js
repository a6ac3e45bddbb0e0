// Dates, times and numbers in the user's language, via Intl. The language is the UI
// language (i18n.js), so a German UI shows 24.11.2026 and 14:05, an English one 11/24/2026.
import { locale } from './i18n.js';

const cache = new Map();
function fmt(kind, opts) {
  const key = locale.value + '|' + kind;
  let f = cache.get(key);
  if (!f) {
    f = kind.startsWith('num') ? new Intl.NumberFormat(locale.value, opts) : new Intl.DateTimeFormat(locale.value, opts);
    cache.set(key, f);
  }
  return f;
}

export function toDate(v) {
  if (!v) return null;
  const d = v instanceof Date ? v : new Date(v);
  return isNaN(d.getTime()) ? null : d;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

export function formatTime(v) {
  const d = toDate(v);
  return d ? fmt('time', { hour: 'numeric', minute: '2-digit' }).format(d) : '';
}

export function formatDate(v) {
  const d = toDate(v);
  return d ? fmt('date', { year: 'numeric', month: '2-digit', day: '2-digit' }).format(d) : '';
}

export function formatDateTime(v) {
  const d = toDate(v);
  return d
    ? fmt('datetime', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(d)
    : '';
}

export function formatDateLong(v) {
  const d = toDate(v);
  if (!d) return '';
  const now = new Date();
  const opts = { weekday: 'long', day: 'numeric', month: 'long' };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return fmt('long' + (opts.year ? 'y' : ''), opts).format(d);
}

/** For lists: the time today, the weekday this week, else the date. */
export function formatShort(v) {
  const d = toDate(v);
  if (!d) return '';
  const now = new Date();
  if (sameDay(d, now)) return formatTime(d);
  const days = (now - d) / 86400000;
  if (days < 6 && days > 0) return fmt('wd', { weekday: 'short' }).format(d);
  if (d.getFullYear() === now.getFullYear()) return fmt('dm', { day: 'numeric', month: 'short' }).format(d);
  return formatDate(d);
}

/** 'today' | 'yesterday' | null, for date separators. */
export function relativeDay(v) {
  const d = toDate(v);
  if (!d) return null;
  const now = new Date();
  if (sameDay(d, now)) return 'today';
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return 'yesterday';
  return null;
}

export function dayKey(v) {
  const d = toDate(v);
  return d ? d.getFullYear() + '-' + (d.getMonth() + 1) + '-' + d.getDate() : '';
}

export function formatNumber(n, opts) {
  return fmt('num' + JSON.stringify(opts || {}), opts).format(n);
}

export function formatPercent(x) {
  return formatNumber(x, { style: 'percent', maximumFractionDigits: 1 });
}

export function formatBytes(n) {
  if (n == null) return '';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return formatNumber(v, { maximumFractionDigits: i ? 1 : 0 }) + ' ' + units[i];
}
