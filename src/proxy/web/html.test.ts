import { describe, expect, it } from 'vitest';
import { CONSOLE_BASE_CSS } from '../../wire/console-style.js';
import { html, page } from './html.js';

describe('server-rendered pages', () => {
  it("wear the console's header and base style, the mark linking home", () => {
    const text = page('Invite <x>', html`<h1>${'<b>hi</b>'}</h1>`, 'https://proxy.example.com/web?a=1&b=2');
    expect(text).toContain(CONSOLE_BASE_CSS);
    expect(text).toContain('<header class="topbar"><a class="brand" href="https://proxy.example.com/web?a=1&#38;b=2">');
    expect(text).toContain('<title>Invite &#60;x&#62; · Postern</title>');
    expect(text).toContain('<h1>&#60;b&#62;hi&#60;/b&#62;</h1>');
  });

  it("link to this host's console unless told otherwise", () => {
    expect(page('Error', html`<p>x</p>`)).toContain('<a class="brand" href="/web">');
  });
});
