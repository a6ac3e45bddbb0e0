// Routes of the employee app under /m/ (history mode: herald serves m/index.html for
// every client route under /m/, and the service worker does the same offline).
import { createRouter, createWebHistory } from 'vue-router';
import { session } from './session.js';

const routes = [
  { path: '/', redirect: () => (session.user ? '/inbox' : '/login') },
  { path: '/login', component: () => import('./views/SignIn.vue'), meta: { public: true } },
  { path: '/code', component: () => import('./views/Code.vue'), meta: { public: true } },
  { path: '/inbox', component: () => import('./views/Inbox.vue'), meta: { tab: 'inbox' } },
  { path: '/chats', component: () => import('./views/Chats.vue'), meta: { tab: 'chats' } },
  { path: '/chats/:id(\\d+)', component: () => import('./views/Chat.vue'), props: (r) => ({ id: Number(r.params.id) }), meta: { tab: 'chats', full: true } },
  { path: '/profile', component: () => import('./views/Profile.vue'), meta: { tab: 'profile' } },
  { path: '/about', component: () => import('./views/About.vue'), meta: { tab: 'about', public: true } },
  { path: '/:rest(.*)*', redirect: '/' },
];

const router = createRouter({ history: createWebHistory('/m/'), routes });

router.beforeEach((to) => {
  if (!to.meta.public && !session.user) return '/login';
  if ((to.path === '/login' || to.path === '/code') && session.user) return '/inbox';
  if (to.path === '/code' && !session.pending) return '/login';
  return true;
});

export default router;
