import type { ReactElement } from 'react';
import { AdminLocks } from './AdminLocks';
import { AdminRoles } from './AdminRoles';
import { AdminTokens } from './AdminTokens';
import { AdminUsers } from './AdminUsers';
import { navigate, usePath } from './nav';
import './console.css';
import './admin.css';

/** The sections, one sub-page each; the first is also /web/admin itself. */
const SECTIONS: readonly { path: string; title: string; render: () => ReactElement }[] = [
  { path: '/web/admin/users', title: 'Users', render: () => <AdminUsers /> },
  { path: '/web/admin/roles', title: 'Roles', render: () => <AdminRoles /> },
  { path: '/web/admin/tokens', title: 'Join tokens', render: () => <AdminTokens /> },
  { path: '/web/admin/locks', title: 'Locks', render: () => <AdminLocks /> },
];

/**
 * Administration (`/web/admin/…`): users, roles, join tokens and locks, through the same admin
 * ops as `postern ctl`, so the server checks the person's admin rules on every call (the built-in
 * editor role allows all of them). Someone without them sees why on the section they open.
 */
export function Admin() {
  const path = usePath();
  const current = SECTIONS.find((s) => s.path === path) ?? SECTIONS[0]!;
  return (
    <section className="console-page" aria-labelledby="admin-title">
      <div className="console-head">
        <h1 id="admin-title">Administration</h1>
      </div>
      <nav className="admin-tabs" aria-label="Administration sections">
        {SECTIONS.map((s) => (
          <a
            key={s.path}
            href={s.path}
            aria-current={s === current ? 'page' : undefined}
            onClick={(e) => {
              e.preventDefault();
              navigate(s.path);
            }}
          >
            {s.title}
          </a>
        ))}
      </nav>
      {/* A key per section: moving to another starts it afresh (its forms, outcome and dialogs). */}
      <div key={current.path}>{current.render()}</div>
    </section>
  );
}
