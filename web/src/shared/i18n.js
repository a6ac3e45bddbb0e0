// A small i18n module: en, de, pl, ru.
//
// The language is the user's stored choice (localStorage 'herald.lang'), else the first
// browser language we speak, else English. t(key, params) looks the key up in the current
// language, falls back to English, then to the key itself, so a missing translation shows
// up in the UI instead of breaking it. `{name}` placeholders are replaced from params;
// plural forms are picked with Intl.PluralRules when the entry is an object
// ({one, few, many, other}) and params.n is given.
//
// Apps add their own strings with extend({en:{…}, de:{…}, …}) so the mobile app and the
// embed do not have to edit the shared dictionaries.
import { ref, computed } from 'vue';
import en from './locales/en.js';
import de from './locales/de.js';
import pl from './locales/pl.js';
import ru from './locales/ru.js';

export const LANGUAGES = [
  { code: 'en', name: 'English' },
  { code: 'de', name: 'Deutsch' },
  { code: 'pl', name: 'Polski' },
  { code: 'ru', name: 'Русский' },
];
const CODES = LANGUAGES.map((l) => l.code);
const STORAGE_KEY = 'herald.lang';

const dicts = { en: { ...en }, de: { ...de }, pl: { ...pl }, ru: { ...ru } };

function detect() {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (stored && CODES.includes(stored)) return stored;
  } catch {
    /* storage disabled */
  }
  const langs = (typeof navigator !== 'undefined' && (navigator.languages || [navigator.language])) || [];
  for (const l of langs) {
    const c = String(l || '').slice(0, 2).toLowerCase();
    if (CODES.includes(c)) return c;
  }
  return 'en';
}

export const locale = ref(detect());
applyDocumentLang(locale.value);

function applyDocumentLang(code) {
  if (typeof document !== 'undefined') document.documentElement.lang = code;
}

export function setLocale(code) {
  if (!CODES.includes(code)) return;
  locale.value = code;
  applyDocumentLang(code);
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    /* storage disabled */
  }
}

export function extend(more) {
  for (const [code, entries] of Object.entries(more)) {
    if (!dicts[code]) dicts[code] = {};
    Object.assign(dicts[code], entries);
  }
}

const pluralRules = {};
function plural(code, n) {
  if (!pluralRules[code]) pluralRules[code] = new Intl.PluralRules(code);
  return pluralRules[code].select(n);
}

export function t(key, params) {
  const code = locale.value; // reading it makes templates re-render on a language switch
  let v = dicts[code] && dicts[code][key];
  if (v === undefined) v = dicts.en[key];
  if (v === undefined) return key;
  if (typeof v === 'object') {
    const n = params && typeof params.n === 'number' ? params.n : 0;
    v = v[plural(code, n)] ?? v.other ?? Object.values(v)[0];
  }
  if (params) v = v.replace(/\{(\w+)\}/g, (m, k) => (params[k] !== undefined ? String(params[k]) : m));
  return v;
}

/** Does the current language have this key (or English)? */
export function has(key) {
  return !!((dicts[locale.value] && dicts[locale.value][key]) || dicts.en[key]);
}

export const currentLocale = computed(() => locale.value);

/** Vue plugin: $t and $locale in every template. */
export default {
  install(app) {
    app.config.globalProperties.$t = t;
    app.config.globalProperties.$locale = locale;
  },
};
