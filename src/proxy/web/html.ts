/** Server-rendered pages (login, invites): small, no scripts, one stylesheet inline. */
import { CONSOLE_BASE_CSS } from '../../wire/console-style.js';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Tagged template that escapes every interpolated value unless it is marked `raw`. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += (Array.isArray(v) ? v.map(render).join('') : render(v)) + strings[i + 1]!;
  });
  return new Raw(out);
}

export class Raw {
  constructor(readonly text: string) {}
}

function render(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

/** The page's own rules, on the console's tokens (CONSOLE_BASE_CSS). */
const PAGE_CSS = `
main{max-width:28rem;margin:3rem auto;padding:2rem;background:var(--surface);border:1px solid var(--border);border-radius:var(--radius);box-shadow:var(--shadow)}
label{display:block;margin:1rem 0 .25rem;font-weight:600}
input{width:100%;padding:.55rem;border:1px solid var(--control-border);border-radius:4px;font-size:1rem;background:var(--surface);color:var(--text)}
button{margin-top:1.25rem;width:100%;padding:.65rem;border:0;border-radius:4px;background:var(--primary);color:var(--on-primary);font-size:1rem;cursor:pointer}
button:hover{background:var(--primary-hover)}
.error{background:var(--error-bg);color:var(--error-text);padding:.75rem;border-radius:4px}.ok{background:var(--notice-bg);color:var(--notice-text);padding:.75rem;border-radius:4px}
pre{background:var(--surface-2);padding:.1rem .3rem;border-radius:3px;word-break:break-all;white-space:pre-wrap}.qr svg{width:200px;height:200px;background:#fff}
.muted{color:var(--muted);font-size:.9rem}`;

/**
 * A whole page, under the console's header (its mark links to `home`: the console, or on an
 * app's own address the proxy's console); pages are never cached and never framed.
 */
export function page(title: string, body: Raw, home = '/web'): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · Postern</title><style>${CONSOLE_BASE_CSS}${PAGE_CSS}</style></head><body><header class="topbar"><a class="brand" href="${escapeHtml(home)}"><span class="brand-mark" aria-hidden="true">P</span>Postern</a></header><main>${body.text}</main></body></html>`;
}

export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'",
  // Not no-referrer: with it browsers send `Origin: null` on form posts, and requireSameOrigin must see the origin.
  'referrer-policy': 'same-origin',
} as const;
