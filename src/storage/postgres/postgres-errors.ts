import { isPosternError, PosternError } from '../../errors/postern-error.js';

/**
 * The server a connection string names, for messages: `host:port/database`, never the user's
 * password (nor anything else of the URL's).
 */
export function describeServer(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    const host = url.searchParams.get('host') ?? (url.hostname || 'localhost');
    return `${host}:${url.port || '5432'}${url.pathname.length > 1 ? url.pathname : ''}`;
  } catch {
    return 'the configured server (storage.conn_string is not a URL)';
  }
}

/**
 * What went wrong talking to PostgreSQL, as STORAGE_UNAVAILABLE: where, while doing what, and
 * what to check. A PosternError passes as it is.
 */
export function storageError(err: unknown, server: string, doing: string): PosternError {
  if (isPosternError(err)) return err;
  const e = err as Error & { code?: string };
  const hint = /password|authentication|role .* does not exist/i.test(e.message)
    ? 'check the user and password in storage.conn_string (or conn_string_file)'
    : /database .* does not exist/i.test(e.message)
      ? 'create the database (createdb), or name an existing one in storage.conn_string'
      : 'check storage.conn_string and that the database is up and reachable from this host';
  return new PosternError('STORAGE_UNAVAILABLE', `PostgreSQL at ${server}: ${doing} failed: ${e.message || e.code || String(err)}; ${hint}`, { cause: err });
}
