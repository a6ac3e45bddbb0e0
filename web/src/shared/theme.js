// Light and dark: follow prefers-color-scheme unless the user picked one (stored in
// localStorage 'herald.theme' as 'light' | 'dark'; 'system' or nothing = follow the OS).
// Tailwind's dark variant keys off the `dark` class on <html>.
import { ref } from 'vue';

const KEY = 'herald.theme';
const media = typeof matchMedia !== 'undefined' ? matchMedia('(prefers-color-scheme: dark)') : null;

function stored() {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : 'system';
  } catch {
    return 'system';
  }
}

export const themeChoice = ref(stored());
export const isDark = ref(false);

function apply() {
  const dark = themeChoice.value === 'dark' || (themeChoice.value === 'system' && !!(media && media.matches));
  isDark.value = dark;
  if (typeof document !== 'undefined') {
    document.documentElement.classList.toggle('dark', dark);
    document.documentElement.style.colorScheme = dark ? 'dark' : 'light';
  }
}

export function setTheme(choice) {
  themeChoice.value = choice;
  try {
    if (choice === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
  } catch {
    /* storage disabled */
  }
  apply();
}

/** Cycle system → light → dark → system (for a single toggle button). */
export function toggleTheme() {
  setTheme(isDark.value ? 'light' : 'dark');
}

if (media && media.addEventListener) media.addEventListener('change', apply);
apply();
