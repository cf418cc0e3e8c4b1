import type { ReactNode } from 'react';
import { formatIn, formatWhen } from './time';

/**
 * A console list as a table: its caption (for screen readers), the column headings, and, with
 * `actions`, a last column (named for screen readers only) for each row's buttons.
 */
export function ConsoleTable({ caption, className, columns, actions = false, children }: { caption: string; className?: string; columns: ReactNode[]; actions?: boolean; children: ReactNode }) {
  return (
    <div className="console-table-wrap">
      <table className={className ? `console-table ${className}` : 'console-table'}>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c, i) => (
              <th key={i} scope="col">
                {c}
              </th>
            ))}
            {actions && (
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** A small button in a table row; `label` names it with the row it acts on (its accessible name). */
export function RowButton({ label, danger = false, disabled, onClick, children }: { label: string; danger?: boolean; disabled?: boolean; onClick: () => void; children: ReactNode }) {
  return (
    <button type="button" className={danger ? 'button small danger' : 'button small'} disabled={disabled} aria-label={label} onClick={onClick}>
      {children}
    </button>
  );
}

/** A greyed "none" for an empty cell. */
export function None() {
  return <span className="muted">none</span>;
}

/** When something was made, and by whom. */
export function CreatedBy({ at, by, now }: { at: string; by: string; now: Date }) {
  return (
    <>
      <time dateTime={at}>{formatWhen(new Date(at), now)}</time>
      <span className="muted"> by {by}</span>
    </>
  );
}

/** When something expires, and how long that is from now. */
export function ExpiresAt({ at, now }: { at: string; now: Date }) {
  return (
    <>
      <time dateTime={at}>{formatWhen(new Date(at), now)}</time>
      <span className="muted"> ({formatIn(new Date(at), now)})</span>
    </>
  );
}
