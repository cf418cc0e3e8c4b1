import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { errorResponse, startupMessage } from '../wire/postgres.js';
import { postgresMd5Proof } from './password-proofs.js';
import { loginPostgres } from './postgres-login.js';

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

/** Two ends of a loopback TCP connection. */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const near = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [far] = (await once(server, 'connection')) as [Socket];
  await once(near, 'connect');
  server.close();
  sockets.push(near, far);
  return [near, far];
}

/**
 * The agent between a client (the proxy's stream) and a database: `client` and `database` are
 * the far ends the test plays, `login` the agent's login on the near ends.
 */
async function session(password = 'secret') {
  const [proxySide, client] = await socketPair();
  const [agentSide, database] = await socketPair();
  return { client, database, agentSide, login: loginPostgres(proxySide, agentSide, password) };
}

/** A backend message: type, Int32 length, body. */
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

function authRequest(code: number, data = Buffer.alloc(0)): Buffer {
  const body = Buffer.alloc(4);
  body.writeInt32BE(code);
  return message('R', Buffer.concat([body, data]));
}

/** Reads exactly `n` bytes the agent sent. */
async function received(socket: Socket, n: number): Promise<Buffer> {
  let got = Buffer.alloc(0);
  while (got.length < n) got = Buffer.concat([got, ((await once(socket, 'data')) as [Buffer])[0]]);
  return got;
}

describe('loginPostgres', () => {
  const startup = startupMessage([
    ['user', 'app'],
    ['database', 'orders'],
  ]);

  it("answers md5 with the password, and hands the client only AuthenticationOk, leaving the session's first messages for the relay", async () => {
    const { client, database, agentSide, login } = await session();
    client.write(startup);
    expect(await received(database, startup.length)).toEqual(startup);
    database.write(authRequest(5, Buffer.from([1, 2, 3, 4])));
    const proof = `${postgresMd5Proof('app', 'secret', Buffer.from([1, 2, 3, 4]))}\0`;
    expect((await received(database, 5 + proof.length)).subarray(5).toString()).toBe(proof);
    const rest = Buffer.concat([message('S', Buffer.from('server_version\x0015\0')), message('Z', Buffer.from('I'))]);
    database.write(Buffer.concat([authRequest(0), rest]));
    expect(await login).toEqual({ answer: authRequest(0), ok: true });
    agentSide.resume();
    expect(((await once(agentSide, 'data')) as [Buffer])[0]).toEqual(rest);
  });

  it("passes the database's ErrorResponse to the client as it is", async () => {
    const { client, database, login } = await session();
    client.write(startup);
    await received(database, startup.length);
    const refusal = errorResponse({ code: '28P01', message: 'password authentication failed for user "app"' });
    database.write(Buffer.concat([authRequest(3), refusal]));
    expect(await login).toEqual({ answer: refusal, ok: false });
  });

  it('refuses a method it cannot answer, and a database that closes during authentication', async () => {
    const gss = await session();
    gss.client.write(startup);
    await received(gss.database, startup.length);
    gss.database.write(authRequest(7));
    await expect(gss.login).rejects.toThrow(/asks for authentication method 7, which the agent does not answer; in pg_hba.conf use scram-sha-256, md5 or password/);
    const closed = await session();
    closed.client.write(startup);
    await received(closed.database, startup.length);
    closed.database.end();
    await expect(closed.login).rejects.toThrow('the database closed the connection during authentication');
  });

  it('sends a CancelRequest on as it is', async () => {
    const { client, database, login } = await session();
    const cancel = Buffer.alloc(16);
    cancel.writeUInt32BE(16, 0);
    cancel.writeUInt32BE(80877102, 4);
    cancel.writeUInt32BE(42, 8);
    client.write(cancel);
    expect(await login).toEqual({ ok: true });
    expect(await received(database, 16)).toEqual(cancel);
  });
});
