// Hash routes, so any deep link works whatever the server does with unknown paths
// (/#/chats/4, /#/login?token=…, /#/cabinet/messages).
import { createRouter, createWebHashHistory } from 'vue-router';

const routes = [{ path: '/', component: () => import('./Placeholder.vue') }];

export default createRouter({ history: createWebHashHistory(), routes });
