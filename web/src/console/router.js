// Hash routes, so any deep link works whatever the server does with unknown paths
// (/#/chats/4, /#/login?token=…, /#/cabinet/messages).
import { createRouter, createWebHashHistory } from 'vue-router';
import { session } from './session.js';

const routes = [
  { path: '/', redirect: () => (session.user ? '/chats' : session.cabinet ? '/cabinet/employees' : '/login') },
  { path: '/login', component: () => import('./pages/SignIn.vue'), meta: { public: true } },
  { path: '/chats/:id(\\d+)?', component: () => import('./pages/Chats.vue'), meta: { needs: 'user' } },
  { path: '/orders', component: () => import('./pages/Orders.vue'), meta: { needs: 'user' } },
  { path: '/cabinet', redirect: '/cabinet/employees' },
  { path: '/cabinet/employees', component: () => import('../cabinet/Employees.vue'), meta: { needs: 'cabinet' } },
  { path: '/cabinet/messages/:id(\\d+)?', component: () => import('../cabinet/Messages.vue'), meta: { needs: 'cabinet' } },
  { path: '/cabinet/send', component: () => import('../cabinet/Send.vue'), meta: { needs: 'cabinet' } },
  { path: '/cabinet/stats', component: () => import('../cabinet/Stats.vue'), meta: { needs: 'cabinet' } },
  { path: '/cabinet/settings', component: () => import('../cabinet/Settings.vue'), meta: { needs: 'cabinet' } },
  { path: '/docs/:section?', component: () => import('./pages/Docs.vue'), meta: { docs: true } },
  { path: '/:rest(.*)*', redirect: '/' },
];

const router = createRouter({ history: createWebHashHistory(), routes });

router.beforeEach((to) => {
  const needs = to.meta.needs;
  if (needs === 'user' && !session.user) return { path: '/login', query: { next: to.fullPath } };
  if (needs === 'cabinet' && !session.cabinet) return { path: '/login', query: { next: to.fullPath, mode: 'cabinet' } };
  return true;
});

export default router;
