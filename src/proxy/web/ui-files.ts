import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { html, page } from './html.js';
import { sendHtml } from './respond.js';
import type { WebResponse } from './http.js';
import type { WebContext } from './web-handler.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** The UI's pages may load only their own scripts and styles, and talk only to this origin. */
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/** The package's root directory (where package.json is), from wherever this module runs (dist/ or src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the package root');
    dir = up;
  }
  return dir;
}

/**
 * Serves the web UI built by Vite (ui/dist) under /web: files by path, and index.html for any
 * other /web path (the UI routes in the browser). Hashed assets are cached for a year; the page
 * itself never, so a new version is picked up at once. Files are read once and kept in memory.
 */
export class UiFiles {
  private readonly dir: string;
  private readonly cache = new Map<string, Buffer>();

  constructor(dir = join(packageRoot(), 'ui', 'dist')) {
    this.dir = dir;
  }

  get built(): boolean {
    return existsSync(join(this.dir, 'index.html'));
  }

  serve({ res, rest }: WebContext): void {
    this.send(res, rest);
  }

  /** The file at `rest` (a path under /web/), or the page for any other path (the UI routes itself). */
  send(res: WebResponse, rest: string): void {
    if (!this.built) {
      sendHtml(res, 503, page('Web UI not built', html`<h1>The web UI is not built</h1><p>Build it with <code>npm run build</code> in the Postern checkout, then reload. The API answers meanwhile.</p>`));
      return;
    }
    const file = this.resolve(rest);
    const body = this.read(file ?? 'index.html');
    const asset = file?.startsWith(`assets${sep}`);
    res.writeHead(200, {
      'content-type': TYPES[extname(file ?? 'index.html')] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': asset ? 'public, max-age=31536000, immutable' : 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      ...(file === undefined || file.endsWith('.html') ? { 'content-security-policy': CSP, 'x-frame-options': 'DENY' } : {}),
    });
    res.end(body);
  }

  /** The file a path names inside the UI directory, or undefined (never anything outside it). */
  private resolve(rest: string): string | undefined {
    let decoded: string;
    try {
      decoded = decodeURIComponent(rest);
    } catch {
      return undefined;
    }
    const relative = normalize(decoded).replace(/^([/\\])+/, '');
    if (!relative || relative.startsWith('..') || relative.includes(`${sep}..${sep}`)) return undefined;
    const full = join(this.dir, relative);
    return full.startsWith(this.dir + sep) && existsSync(full) && statSync(full).isFile() ? relative : undefined;
  }

  private read(relative: string): Buffer {
    let body = this.cache.get(relative);
    if (!body) this.cache.set(relative, (body = readFileSync(join(this.dir, relative))));
    return body;
  }
}
