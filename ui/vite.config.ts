import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** This directory (ui/), wherever Vite is started from. */
const root = decodeURIComponent(new URL('.', import.meta.url).pathname);

/**
 * The web UI. The proxy serves ui/dist under /web (src/proxy/web/ui-files.ts), so every URL in the
 * built page starts with /web/ and hashed files go to ui/dist/assets/ (cached for a year there).
 *
 * `npx vite --config ui/vite.config.ts` serves it for development with hot reload and passes the
 * API (/webapi) and the server's own /web routes through to a running proxy: POSTERN_PROXY picks
 * it (default https://127.0.0.1:3080, what `npm start` runs). The proxy's certificate comes from
 * the cluster's own CA, which this dev server does not check (development only).
 */
export default defineConfig(({ command }) => ({
  root,
  base: '/web/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
  },
  server:
    command === 'serve'
      ? {
          proxy: Object.fromEntries(
            ['/webapi', '/web/launch', '/web/invite'].map((prefix) => [prefix, { target: process.env.POSTERN_PROXY ?? 'https://127.0.0.1:3080', secure: false, changeOrigin: true }]),
          ),
        }
      : {},
}));
