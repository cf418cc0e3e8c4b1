/** What a client asked a PostgreSQL server to run. */
export type PostgresQuery = {
  query: string;
  /** `simple`: a Query message (psql, scripts); `extended`: Parse, Bind and Execute (drivers, pgbench -M extended). */
  protocol: 'simple' | 'extended';
  /** The values bound to an extended query's parameters: how many (the values stay out of the audit log). */
  parameters?: number;
};

/** Longest query text kept; a longer one is cut and says how long it was. */
const MAX_QUERY = 16 * 1024;
/** Messages the reader looks into are small; anything larger (COPY data, huge binds) is passed over unread. */
const MAX_READ = 1024 * 1024;

/**
 * Reads a PostgreSQL client's messages after the startup, as they stream past (frontend protocol
 * 3: a type byte and an Int32 length, then the body), and reports each statement it runs: a
 * simple Query at once; an extended query at its Execute, with the text its Parse gave the
 * statement and the parameter count its Bind gave the portal. It never buffers more than one
 * small message, skips what it does not need, and stops reading (without throwing) at bytes that
 * are not the protocol: the session's bytes are the database's to judge.
 */
export class PostgresQueryReader {
  private pending = Buffer.alloc(0);
  /** Body bytes of an uninteresting or oversized message still to pass over. */
  private skip = 0;
  private stopped = false;
  private readonly statements = new Map<string, string>();
  private readonly portals = new Map<string, { statement: string; parameters: number }>();

  constructor(private readonly onQuery: (query: PostgresQuery) => void) {}

  feed(chunk: Buffer): void {
    if (this.stopped) return;
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        continue;
      }
      if (data.length < 5) break;
      const type = String.fromCharCode(data[0]!);
      const length = data.readUInt32BE(1);
      if (length < 4) return void (this.stopped = true);
      if (!'QPBEC'.includes(type) || length - 4 > MAX_READ) {
        this.skip = length - 4;
        data = data.subarray(5);
        continue;
      }
      if (data.length < 1 + length) break;
      this.message(type, data.subarray(5, 1 + length));
      data = data.subarray(1 + length);
    }
    if (data.length) this.pending = Buffer.from(data);
  }

  private message(type: string, body: Buffer): void {
    const strings = cStrings(body);
    if (type === 'Q') return this.onQuery({ query: clip(strings[0] ?? ''), protocol: 'simple' });
    if (type === 'P') return void this.statements.set(strings[0] ?? '', strings[1] ?? '');
    if (type === 'B') {
      const [portal = '', statement = ''] = strings;
      return void this.portals.set(portal, { statement, parameters: bindParameters(body) });
    }
    if (type === 'E') {
      const portal = this.portals.get(strings[0] ?? '');
      if (!portal) return;
      return this.onQuery({ query: clip(this.statements.get(portal.statement) ?? ''), protocol: 'extended', parameters: portal.parameters });
    }
    // Close ('C'): a statement or portal is gone; forgetting it keeps the maps as small as the client's.
    const [what, name = ''] = [String.fromCharCode(body[0] ?? 0), cStrings(body.subarray(1))[0]];
    (what === 'S' ? this.statements : this.portals).delete(name);
  }
}

/** The NUL-terminated strings at the start of a body. */
function cStrings(body: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < body.length && out.length < 2) {
    const end = body.indexOf(0, at);
    if (end < 0) break;
    out.push(body.toString('utf8', at, end));
    at = end + 1;
  }
  return out;
}

/** A Bind's parameter count: after the portal and statement names and the format codes. */
function bindParameters(body: Buffer): number {
  let at = body.indexOf(0) + 1;
  at = body.indexOf(0, at) + 1;
  if (at <= 0 || at + 2 > body.length) return 0;
  const formats = body.readUInt16BE(at);
  at += 2 + formats * 2;
  return at + 2 <= body.length ? body.readUInt16BE(at) : 0;
}

function clip(query: string): string {
  return query.length > MAX_QUERY ? `${query.slice(0, MAX_QUERY)}… (${query.length} characters)` : query;
}
