import type { ReactElement } from 'react';
import { ActiveSessions } from './ActiveSessions';
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
  inNav?: boolean;
}

export const PAGES: readonly PageSpec[] = [
  {
    path: '/web',
    title: 'Resources',
    matches: (p) => p === '/web' || p === '/web/' || p === '/web/apps' || p === '/web/login',
    render: () => <Resources />,
  },
  { path: '/web/terminal', title: 'Terminal', matches: (p) => p === '/web/terminal', render: () => <Terminal />, inNav: false },
  { path: '/web/audit', title: 'Audit log', matches: (p) => p === '/web/audit', render: () => <AuditLog /> },
  { path: '/web/sessions', title: 'Active sessions', matches: (p) => p === '/web/sessions', render: () => <ActiveSessions /> },
];

/** The page for a path, if any. */
export function pageFor(path: string): PageSpec | undefined {
  return PAGES.find((p) => p.matches(path));
}
