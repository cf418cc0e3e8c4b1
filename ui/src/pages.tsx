import type { ReactElement } from 'react';
import { ActiveSessions } from './ActiveSessions';
import { Admin } from './Admin';
import type { WhoAmI } from './api';
import { AuditLog } from './AuditLog';
import { Resources } from './Resources';
import { Terminal } from './Terminal';

/**
 * The signed-in pages: one row each, in the order the navigation shows them. A page matches a
 * path by `matches` (its own path and those under it); `inNav: false` pages are reached by links
 * (a terminal tab from a node's Connect). Adding a page is a row here and its own file.
 */
export interface PageSpec {
  /** Where the navigation link goes. */
  path: string;
  /** The navigation label and the document title. */
  title: string;
  matches(path: string): boolean;
  render(me: WhoAmI): ReactElement;
  /** Whether the navigation links to it (default: yes); a page that needs rights asks `me.console`. */
  inNav?: boolean | ((me: WhoAmI) => boolean);
}

export const PAGES: readonly PageSpec[] = [
  {
    path: '/web',
    title: 'Resources',
    matches: (p) => p === '/web' || p === '/web/' || p === '/web/apps' || p === '/web/login',
    render: () => <Resources />,
  },
  { path: '/web/terminal', title: 'Terminal', matches: (p) => p === '/web/terminal', render: () => <Terminal />, inNav: false },
  { path: '/web/audit', title: 'Audit log', matches: (p) => p === '/web/audit', render: () => <AuditLog />, inNav: (me) => me.console.audit },
  { path: '/web/sessions', title: 'Active sessions', matches: (p) => p === '/web/sessions', render: () => <ActiveSessions />, inNav: (me) => me.console.sessions },
  { path: '/web/admin', title: 'Administration', matches: (p) => p === '/web/admin' || p.startsWith('/web/admin/'), render: () => <Admin />, inNav: (me) => me.console.administer },
];

/** The pages the navigation shows this person. */
export function navPages(me: WhoAmI): PageSpec[] {
  return PAGES.filter((p) => (typeof p.inNav === 'function' ? p.inNav(me) : p.inNav !== false));
}

/** The page for a path, if any. */
export function pageFor(path: string): PageSpec | undefined {
  return PAGES.find((p) => p.matches(path));
}
