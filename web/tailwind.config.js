// Tailwind for every web entry. Dark mode follows the `dark` class on <html>, which
// src/shared/theme.js sets from prefers-color-scheme or the user's explicit choice.
/** @type {import('tailwindcss').Config} */
export default {
  content: ['./index.html', './m/index.html', './src/**/*.{vue,js}'],
  darkMode: 'class',
  theme: {
    extend: {
      colors: {
        // Brand: a calm teal-blue; 600/700 on white and 300/400 on slate-900 pass AA for text.
        brand: {
          50: '#eef7ff',
          100: '#d9edff',
          200: '#bce0ff',
          300: '#8ecdff',
          400: '#59b0ff',
          500: '#338dfc',
          600: '#1d6ef1',
          700: '#1558de',
          800: '#1847b4',
          900: '#1a408d',
          950: '#152856',
        },
      },
      fontFamily: {
        sans: [
          'system-ui',
          '-apple-system',
          'Segoe UI',
          'Roboto',
          'Ubuntu',
          'Cantarell',
          'Noto Sans',
          'sans-serif',
        ],
      },
    },
  },
  plugins: [],
};
