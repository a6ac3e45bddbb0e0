// <herald-chat> — one herald chat inside a host system's own page.
//
//   <script src="https://herald.example/embed/herald-chat.js"></script>
//   <herald-chat ref="shift:4711" token="…" server="https://herald.example"></herald-chat>
//
// ref     the host object the chat belongs to, "type:id" (GET /api/v2/chats/by-ref/{type}/{id})
// token   a user token the host minted server-side (a session or an HS256 JWT; never the
//         tenant API token — it would give the page the whole tenant)
// server  herald's origin; default: the origin this script was loaded from
// lang    en | de | pl | ru; default: the browser's language
//
// The element renders into its own Shadow DOM with the shared chat view, so the host's
// styles do not leak in and ours do not leak out. Styles are constructable style sheets
// (no inline <style>), which also works under a host CSP without 'unsafe-inline'.
// Theme with CSS custom properties on the element (documented in examples/host-page/):
// --herald-accent, --herald-accent-hover, --herald-bg, --herald-surface, --herald-text,
// --herald-muted, --herald-border, --herald-font, --herald-radius.
import { createApp, h, ref as vref } from 'vue';
import css from '../shared/base.css?inline';
import i18n, { setLocale, t } from '../shared/i18n.js';
import { createApi } from '../shared/api.js';
import { createRealtime } from '../shared/realtime.js';
import { createChatStore } from '../shared/chatStore.js';
import ChatView from '../shared/components/ChatView.vue';

const scriptOrigin = (() => {
  try {
    return new URL(document.currentScript.src).origin;
  } catch {
    return location.origin;
  }
})();

// The variables map onto the Tailwind classes the shared components use.
const THEME = `
:host { display: block; position: relative; height: 480px; min-height: 240px;
  font-family: var(--herald-font, system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif);
  color: var(--herald-text, #0f172a); border: 1px solid var(--herald-border, #e2e8f0);
  border-radius: var(--herald-radius, 12px); overflow: hidden; background: var(--herald-bg, #f8fafc);
  contain: content; }
:host([hidden]) { display: none; }
.root { height: 100%; font-family: inherit; color: inherit; }
.root .bg-slate-50 { background-color: var(--herald-bg, #f8fafc); }
.root .bg-white { background-color: var(--herald-surface, #ffffff); }
.root .text-slate-900, .root .text-slate-800 { color: var(--herald-text, #0f172a); }
.root .text-slate-500, .root .text-slate-600 { color: var(--herald-muted, #475569); }
.root .border-slate-200, .root .border-slate-300 { border-color: var(--herald-border, #e2e8f0); }
.root .bg-brand-600, .root .btn-primary { background-color: var(--herald-accent, #1d6ef1); }
.root .btn-primary:hover { background-color: var(--herald-accent-hover, #1558de); }
.root .hover\\:bg-brand-700:hover { background-color: var(--herald-accent-hover, #1558de); }
.root .text-brand-700 { color: var(--herald-accent, #1d6ef1); }
.root .ring-brand-500 { --tw-ring-color: var(--herald-accent, #1d6ef1); }
.state { display: flex; height: 100%; align-items: center; justify-content: center; padding: 1.5rem;
  text-align: center; font-size: 0.875rem; color: var(--herald-muted, #475569); }
`;

let sheets = null;
function styleSheets() {
  if (!sheets) {
    const base = new CSSStyleSheet();
    base.replaceSync(css);
    const theme = new CSSStyleSheet();
    theme.replaceSync(THEME);
    sheets = [base, theme];
  }
  return sheets;
}

function parseRef(v) {
  const m = /^([^:\s]+):(.+)$/.exec(String(v || '').trim());
  return m ? { type: m[1], id: m[2] } : null;
}

class HeraldChat extends HTMLElement {
  static get observedAttributes() {
    return ['ref', 'token', 'server', 'lang'];
  }

  constructor() {
    super();
    this._root = this.attachShadow({ mode: 'open' });
    this._root.adoptedStyleSheets = styleSheets();
    this._app = null;
    this._rt = null;
    this._store = null;
    this._timer = null;
  }

  connectedCallback() {
    this._schedule();
  }

  disconnectedCallback() {
    this._teardown();
  }

  attributeChangedCallback() {
    if (this.isConnected) this._schedule();
  }

  // attributes often arrive one by one: start once they have settled
  _schedule() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._start(), 0);
  }

  _teardown() {
    if (this._app) this._app.unmount();
    if (this._rt) this._rt.close();
    if (this._store) this._store.destroy();
    this._app = this._rt = this._store = null;
    this._root.replaceChildren();
  }

  /** The chat on screen: { id, title } once loaded, or null. */
  get chat() {
    return this._chat || null;
  }

  async _start() {
    this._teardown();
    const lang = this.getAttribute('lang');
    if (lang) setLocale(lang);
    const ref = parseRef(this.getAttribute('ref'));
    const token = this.getAttribute('token');
    const server = (this.getAttribute('server') || scriptOrigin).replace(/\/+$/, '');
    const mount = document.createElement('div');
    mount.className = 'root';
    mount.setAttribute('part', 'root');
    this._root.append(mount);
    const status = vref({ state: 'loading', text: t('common.loading') });
    const api = createApi({ baseUrl: server, getToken: () => token });
    const ctx = { store: null, chatId: null };
    const self = this;
    this._app = createApp({
      render() {
        if (ctx.store && status.value.state === 'ready')
          return h(ChatView, { store: ctx.store, api, chatId: ctx.chatId, showBack: false });
        return h('div', { class: 'state', role: status.value.state === 'error' ? 'alert' : 'status' }, status.value.text);
      },
    }).use(i18n);
    this._app.mount(mount);
    if (!ref || !token) {
      status.value = { state: 'error', text: 'herald-chat: set the ref ("type:id") and token attributes.' };
      return;
    }
    try {
      const [me, chat] = await Promise.all([
        api.get('/api/v2/me'),
        api.get('/api/v2/chats/by-ref/' + encodeURIComponent(ref.type) + '/' + encodeURIComponent(ref.id)),
      ]);
      if (!this._app) return; // torn down meanwhile
      const rt = createRealtime({ baseUrl: server, getToken: () => token });
      const store = createChatStore({ api, rt, me: me.user, limits: me.limits });
      store.upsertChat(chat);
      let first = true;
      rt.on('hello', () => {
        if (first) first = false;
        else store.catchUp(chat.id);
      });
      rt.connect();
      this._rt = rt;
      this._store = store;
      ctx.store = store;
      ctx.chatId = chat.id;
      this._chat = { id: chat.id, title: chat.title };
      status.value = { state: 'ready', text: '' };
      self.dispatchEvent(new CustomEvent('herald-ready', { detail: { chat: chat.id } }));
    } catch (e) {
      status.value = { state: 'error', text: (e && e.message) || String(e) };
      self.dispatchEvent(new CustomEvent('herald-error', { detail: { code: e && e.code, message: e && e.message } }));
    }
  }
}

if (!customElements.get('herald-chat')) customElements.define('herald-chat', HeraldChat);
