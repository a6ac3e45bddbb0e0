// The embeddable <herald-chat> element: a second Vite build in library mode, one classic
// script (IIFE) with Vue and the shared chat components inside, so a host page needs a
// single <script src> and no module loader. Written to dist/embed/herald-chat.js (not
// hashed: hosts link to a stable URL; herald serves it with Cache-Control: no-cache).
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';
import { fileURLToPath } from 'node:url';
import { resolve, dirname } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  plugins: [vue()],
  publicDir: false,
  define: { 'process.env.NODE_ENV': '"production"' },
  build: {
    outDir: 'dist/embed',
    emptyOutDir: false,
    target: 'es2020',
    sourcemap: false,
    lib: {
      entry: resolve(here, 'src/embed/herald-chat.js'),
      name: 'HeraldChat',
      formats: ['iife'],
      fileName: () => 'herald-chat.js',
    },
  },
});
