/** Server-rendered pages (login, invites): small, no scripts, one stylesheet inline. */

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

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}
main{max-width:28rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:1rem 0 .25rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #b8bfcc;border-radius:4px;font-size:1rem}
button{margin-top:1.25rem;width:100%;padding:.65rem;border:0;border-radius:4px;background:#2450d8;color:#fff;font-size:1rem;cursor:pointer}
.error{background:#fde8e8;color:#8a1c1c;padding:.75rem;border-radius:4px}.ok{background:#e6f6ea;color:#1c5e2c;padding:.75rem;border-radius:4px}
code,pre{background:#eef0f4;padding:.1rem .3rem;border-radius:3px;word-break:break-all;white-space:pre-wrap}.qr svg{width:200px;height:200px}
.muted{color:#5a6475;font-size:.9rem}`;

/** A whole page; pages are never cached and never framed. */
export function page(title: string, body: Raw): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · Postern</title><style>${STYLE}</style></head><body><main>${body.text}</main></body></html>`;
}

export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'",
  // Not no-referrer: with it browsers send `Origin: null` on form posts, and requireSameOrigin must see the origin.
  'referrer-policy': 'same-origin',
} as const;
