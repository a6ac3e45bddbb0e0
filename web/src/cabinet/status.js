// Message delivery statuses, in the order a message advances through them.
export const STATUSES = ['queued', 'sent', 'delivered', 'read', 'failed'];
export const STATUS_CLASS = {
  queued: 'bg-slate-200 text-slate-800 dark:bg-slate-700 dark:text-slate-100',
  sent: 'bg-sky-100 text-sky-900 dark:bg-sky-900/60 dark:text-sky-100',
  delivered: 'bg-indigo-100 text-indigo-900 dark:bg-indigo-900/60 dark:text-indigo-100',
  read: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-900/60 dark:text-emerald-100',
  failed: 'bg-red-100 text-red-900 dark:bg-red-900/60 dark:text-red-100',
};

// A message that failed only because the employee has no device (never signed
// in to the app, or no push provider configured) is shown as such, not as an
// error: nothing went wrong, there was nowhere to push to.
export function statusKey(m) {
  return m.status === 'failed' && m.failed_reason === 'no_device' ? 'noDevice' : m.status;
}
export const NO_DEVICE_CLASS = 'bg-amber-100 text-amber-900 dark:bg-amber-900/60 dark:text-amber-100';
export function statusClass(m) {
  return statusKey(m) === 'noDevice' ? NO_DEVICE_CLASS : STATUS_CLASS[m.status];
}
