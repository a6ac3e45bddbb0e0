// Vite build of herald's web apps. One multi-page build produces web/dist, which
// `herald serve` ships as static files:
//   index.html    -> the console and company cabinet at /
//   m/index.html  -> the employee app (PWA) at /m/
// The embeddable <herald-chat> element is a library-style build of its own (see README).
//
// Strict CSP (script-src 'self'; style-src 'self') shapes the options: no asset is
// inlined as a data: URI, no inline <script>/<style> ends up in the HTML.
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';
import yaml from 'js-yaml';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve, dirname } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const openapiPath = resolve(here, '../docs/openapi.yaml');

// `import spec from 'virtual:openapi'` gives docs/openapi.yaml as a JS object: the YAML is
// parsed at build time, so the browser never ships a YAML parser.
function openapi() {
  const id = 'virtual:openapi';
  return {
    name: 'herald-openapi',
    resolveId(source) {
      return source === id ? '\0' + id : null;
    },
    load(source) {
      if (source !== '\0' + id) return null;
      this.addWatchFile(openapiPath);
      const spec = yaml.load(readFileSync(openapiPath, 'utf8'));
      return 'export default ' + JSON.stringify(spec) + ';';
    },
  };
}

const backend = process.env.HERALD_URL || 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  plugins: [vue(), openapi()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    cssCodeSplit: true,
    sourcemap: false,
    target: 'es2020',
    rollupOptions: {
      input: {
        console: resolve(here, 'index.html'),
        mobile: resolve(here, 'm/index.html'),
      },
    },
  },
  server: {
    proxy: {
      '/api': backend,
      '/ws': { target: backend.replace(/^http/, 'ws'), ws: true },
    },
  },
});
