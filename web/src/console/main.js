// Console entry (served at /): dispatcher chat console and company cabinet.
import { createApp } from 'vue';
import '../shared/base.css';
import '../shared/theme.js';
import i18n from '../shared/i18n.js';
import App from './App.vue';
import router from './router.js';

createApp(App).use(i18n).use(router).mount('#app');
