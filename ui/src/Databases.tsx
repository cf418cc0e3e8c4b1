import { useEffect, useId, useState } from 'react';
import { api, ApiError, type Db } from './api';
import { CopyCommand } from './CopyCommand';
import { ErrorBox, asApiError } from './errors';
import { Labels } from './Labels';

/**
 * The databases the signed-in person may reach, with the database users and names their roles
 * allow, and the command that connects (psql through `postern db connect`). Shown only when
 * there are some: most people reach no database.
 */
export function Databases() {
  const [load, setLoad] = useState<Db[] | ApiError>();
  useEffect(() => {
    api.databases().then(
      ({ databases }) => setLoad([...databases].sort((a, b) => a.name.localeCompare(b.name))),
      (err: unknown) => setLoad(asApiError(err)),
    );
  }, []);
  if (load === undefined || (Array.isArray(load) && load.length === 0)) return null;
  return (
    <section className="apps" aria-labelledby="dbs-title">
      <div className="apps-head">
        <h2 id="dbs-title">Databases</h2>
      </div>
      {load instanceof ApiError ? (
        <div className="panel">
          <ErrorBox error={load} title="Your databases could not be listed" />
        </div>
      ) : (
        <ul className="app-list" aria-label="Databases">
          {load.map((db) => (
            <DbCard key={db.name} db={db} />
          ))}
        </ul>
      )}
    </section>
  );
}

function DbCard({ db }: { db: Db }) {
  const titleId = useId();
  const command = `postern db connect ${db.name} --db-user=${db.db_users[0] ?? 'USER'}${db.db_names[0] ? ` --db-name=${db.db_names[0]}` : ''}`;
  return (
    <li className="app-card" aria-labelledby={titleId} data-db={db.name}>
      <div className="app-card-head">
        <h3 id={titleId} className="app-name">
          {db.name}
        </h3>
        <span className="app-type tcp">{db.protocol === 'postgres' ? 'PostgreSQL' : db.protocol === 'mysql' ? 'MySQL' : db.protocol}</span>
      </div>
      {db.description && <p className="app-description">{db.description}</p>}
      <Labels labels={db.labels} />
      <p className="hint">
        As {db.db_users.join(', ')}
        {db.db_names.length > 0 ? `, in ${db.db_names.join(', ')}` : ''}
      </p>
      <div className="app-action">
        <CopyCommand command={command} what={db.name} testId="db-command" />
      </div>
    </li>
  );
}
