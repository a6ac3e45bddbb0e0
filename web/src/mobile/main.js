// Employee app entry (/m/) — placeholder from the scaffold; owned by W2 (see web/README.md).
import { createApp, h } from 'vue';
import '../shared/base.css';
import '../shared/theme.js';
import i18n from '../shared/i18n.js';

createApp({ render: () => h('p', { class: 'p-6' }, 'herald') }).use(i18n).mount('#app');
