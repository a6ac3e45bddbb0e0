// Employee app entry (/m/): an installable web app (PWA) for phones.
import { createApp } from 'vue';
import '../shared/base.css';
import '../shared/theme.js';
import i18n from '../shared/i18n.js';
import './strings.js';
import './mobile.css';
import App from './App.vue';
import router from './router.js';
import { registerWorker } from './pwa.js';

const app = createApp(App).use(i18n).use(router);
app.mount('#app');
// A notification tapped while the app is open: the worker asks us to navigate.
window.__heraldOpen = (url) => router.push(url.replace(/^\/m/, '') || '/');
registerWorker();
