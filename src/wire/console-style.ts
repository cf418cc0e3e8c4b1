/**
 * The web console's base look: colour tokens (light and dark), type, focus rings and the header
 * with the Postern mark. One copy for both renderers: the React console adds it to its page
 * (ui/src/main.tsx), and the pages the server renders itself (invites, device codes, errors,
 * app sign-in) inline it (proxy/web/html.ts), so that every page wears the same header.
 */
export const CONSOLE_BASE_CSS = `
:root {
  color-scheme: light dark;
  --bg: #f4f5f7;
  --surface: #ffffff;
  --surface-2: #eef0f4;
  --text: #1d2430;
  --muted: #4f5a6b;
  --border: #c9cfd9;
  --control-border: #7d8799;
  --primary: #2450d8;
  --primary-hover: #1c40b0;
  --on-primary: #ffffff;
  --link: #1f47c4;
  --focus: #c2410c;
  --chip-bg: #e8edf8;
  --chip-text: #25334d;
  --error-bg: #fde8e8;
  --error-text: #8a1c1c;
  --error-border: #f3b8b8;
  --notice-bg: #e7f0ff;
  --notice-text: #173a8a;
  --shadow: 0 1px 3px rgb(16 24 40 / 0.1), 0 1px 2px rgb(16 24 40 / 0.06);
  --radius: 8px;
}

@media (prefers-color-scheme: dark) {
  :root {
    --bg: #11151c;
    --surface: #1a202a;
    --surface-2: #242b37;
    --text: #e6e9ef;
    --muted: #a9b2c1;
    --border: #3a4455;
    --control-border: #6b7689;
    --primary: #3b63e0;
    --primary-hover: #4d73ea;
    --on-primary: #ffffff;
    --link: #9db8ff;
    --focus: #ffc247;
    --chip-bg: #263351;
    --chip-text: #d6e0f7;
    --error-bg: #3b1a1d;
    --error-text: #ffc9c9;
    --error-border: #6e2a30;
    --notice-bg: #1b2a4a;
    --notice-text: #cddcff;
    --shadow: 0 1px 3px rgb(0 0 0 / 0.5);
  }
}

*,
*::before,
*::after {
  box-sizing: border-box;
}

html {
  -webkit-text-size-adjust: 100%;
  text-size-adjust: 100%;
}

body {
  margin: 0;
  font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
  background: var(--bg);
  color: var(--text);
  overflow-wrap: anywhere;
}

h1,
h2 {
  line-height: 1.25;
  margin: 0 0 0.75rem;
}
h1 {
  font-size: 1.5rem;
}
h2 {
  font-size: 1.1rem;
}
p {
  margin: 0 0 0.75rem;
}
a {
  color: var(--link);
}
code {
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace;
  font-size: 0.9em;
  background: var(--surface-2);
  padding: 0.1rem 0.3rem;
  border-radius: 4px;
}

:focus-visible {
  outline: 3px solid var(--focus);
  outline-offset: 2px;
}
[tabindex='-1']:focus {
  outline: none;
}

.visually-hidden {
  position: absolute;
  width: 1px;
  height: 1px;
  padding: 0;
  margin: -1px;
  overflow: hidden;
  clip: rect(0 0 0 0);
  white-space: nowrap;
  border: 0;
}

.skip-link {
  position: absolute;
  left: 0.5rem;
  top: -3rem;
  padding: 0.5rem 0.75rem;
  background: var(--surface);
  color: var(--link);
  border-radius: var(--radius);
  z-index: 10;
}
.skip-link:focus {
  top: 0.5rem;
}

/* Header */

.topbar {
  display: flex;
  align-items: center;
  gap: 0.75rem;
  padding: 0.6rem 1rem;
  background: var(--surface);
  border-bottom: 1px solid var(--border);
  min-height: 3.5rem;
}
.brand {
  display: inline-flex;
  align-items: center;
  gap: 0.5rem;
  font-weight: 700;
  color: var(--text);
  text-decoration: none;
  flex: none;
}
.brand-mark {
  display: inline-grid;
  place-items: center;
  width: 1.75rem;
  height: 1.75rem;
  border-radius: 6px;
  background: var(--primary);
  color: var(--on-primary);
  font-size: 0.95rem;
}
.cluster {
  min-width: 0;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
  color: var(--muted);
  font-size: 0.9rem;
  padding-left: 0.75rem;
  border-left: 1px solid var(--border);
}
.topbar-spacer {
  flex: 1;
}
`;
