// Message delivery statuses, in the order a message advances through them.
export const STATUSES = ['queued', 'sent', 'delivered', 'read', 'failed'];
export const STATUS_CLASS = {
  queued: 'bg-slate-200 text-slate-800 dark:bg-slate-700 dark:text-slate-100',
  sent: 'bg-sky-100 text-sky-900 dark:bg-sky-900/60 dark:text-sky-100',
  delivered: 'bg-indigo-100 text-indigo-900 dark:bg-indigo-900/60 dark:text-indigo-100',
  read: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-900/60 dark:text-emerald-100',
  failed: 'bg-red-100 text-red-900 dark:bg-red-900/60 dark:text-red-100',
};
