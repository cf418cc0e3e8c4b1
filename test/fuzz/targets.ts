import { rmSync, writeFileSync } from 'node:fs';
import type { ServerHttp2Stream } from 'node:http2';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { threadId } from 'node:worker_threads';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { checkDocuments, DOCUMENT_KINDS } from '../../src/admin/documents.js';
import { AgentResources } from '../../src/agent/agent-resources.js';
import { loadConfig } from '../../src/config/load.js';
import { sampleConfig } from '../../src/config/sample.js';
import { configSchema } from '../../src/config/schema.js';
import { isPosternError, type PosternError } from '../../src/errors/postern-error.js';
import { silentLogger } from '../../src/log/logger.js';
import { formatHostPort, parseHostPort } from '../../src/net/addr.js';
import { generateKeyPair, x509 } from '../../src/pki/crypto.js';
import { certificateFields, children, oidText, readDer, TAG, time, utf8, type Der } from '../../src/pki/der.js';
import { identityExtensions, identityFromCertificate, type Identity } from '../../src/pki/identity.js';
import { BUILTIN_ROLES, roleToYaml } from '../../src/policy/role.js';
import { looksLikeProxyHeader, parseProxyHeader, V1_MAX_LENGTH, V2_MAX_LENGTH, V2_SIGNATURE, type ProxyHeader } from '../../src/proxy/proxy-protocol.js';
import { MysqlCommandReader } from '../../src/proxy/db/mysql-commands.js';
import { PostgresQueryReader } from '../../src/proxy/db/postgres-queries.js';
import { Router } from '../../src/proxy/router.js';
import { RouteTable } from '../../src/proxy/routes/route-table.js';
import { cookie } from '../../src/proxy/web/body.js';
import { acceptResources, AGENT_ROLES, announcedResource, joinRoleOf, RESOURCE_TABLE } from '../../src/resources/table.js';
import { MAX_CLIENT_HELLO, parseClientHello } from '../../src/wire/client-hello.js';
import { PING_SUFFIX, PROTOCOLS } from '../../src/wire/protocols.js';
import { CLIENT, packet, parseHandshakeResponse, readPacket } from '../../src/wire/mysql.js';
import { MAX_STARTUP_LENGTH, parseStartupPacket, startupMessage } from '../../src/wire/postgres.js';
import { errorReason, resourcesMessage } from '../../src/wire/tunnel.js';
import { DEV_ACCESS_YAML } from '../helpers/example-role.js';
import { editedLines, headerValue, keysAndValues, long, mutated, yamlText, yamlTree } from './arbitraries.js';
import type { Target } from './harness.js';

/**
 * The fuzz targets: the code that reads what strangers send (the PROXY header, the ClientHello's
 * SNI and ALPN, certificates, CONNECT authorities, cookies), what agents send over their tunnels,
 * and the files people write (postern.yaml, ctl documents). docs/fuzzing.md says how to run them.
 *
 * Each target's check states its contract: what it may return, and which error it may throw.
 */

/** A contract the target broke; never taken for an error the target itself may throw. */
class Broken extends Error {}

function fail(message: string, cause?: unknown): never {
  throw new Broken(message, cause === undefined ? undefined : { cause });
}

/** Runs `fn`; anything it throws must pass `allowed`, else the target crashed. */
function mayThrow(fn: () => void, allowed: (err: unknown) => boolean, what: string): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof Broken) throw err;
    if (!allowed(err)) fail(`threw ${err instanceof Error ? err.constructor.name : typeof err} where ${what} was allowed`, err);
  }
}

const posternError = (err: unknown): err is PosternError => isPosternError(err) && err.message.length > 0;
/** der.ts and identity.ts throw plain Errors with a reason; a TypeError or RangeError means they read out of bounds. */
const plainError = (err: unknown) => err instanceof Error && err.constructor === Error && err.message.length > 0;

// ---------------------------------------------------------------------------------------------
// 1. PROXY protocol v1/v2 headers (proxy-protocol.ts): incomplete, invalid or ok, never a throw.

const port = fc.oneof(fc.integer({ min: 0, max: 65535 }).map(String), fc.constantFrom('65536', '00080', '-1', '+80', '0x50', '1e3', '', '99999999999999999999'));
const v1Address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.constantFrom('fe80::1%eth0', '::ffff:1.2.3.4', '1.2.3.4.5', 'localhost'), fc.string({ maxLength: 8 }));
const v1Line = fc
  .tuple(
    fc.oneof(
      fc.tuple(fc.constant('TCP4'), fc.ipV4(), fc.ipV4(), port, port),
      fc.tuple(fc.constant('TCP6'), fc.ipV6(), fc.ipV6(), port, port),
      fc.tuple(fc.constantFrom('TCP4', 'TCP6', 'UNKNOWN', 'TCP5', 'tcp4', ''), v1Address, v1Address, port, port),
      fc.array(fc.oneof(fc.constantFrom('TCP4', 'TCP6', 'UNKNOWN'), v1Address, port), { maxLength: 8 }),
    ),
    fc.constantFrom(' ', ' ', '  ', '\t'),
    fc.constantFrom('\r\n', '\r\n', '\n', '\r', '', '\r\n\r\n'),
    fc.uint8Array({ maxLength: 8 }),
  )
  .map(([fields, sep, end, rest]) => new Uint8Array(Buffer.concat([Buffer.from(['PROXY', ...fields].join(sep) + end, 'latin1'), rest])));

const v2Header = fc
  .record({
    versionCommand: fc.oneof(fc.constantFrom(0x20, 0x21), fc.integer({ min: 0, max: 255 })),
    family: fc.oneof(fc.constantFrom(0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32), fc.integer({ min: 0, max: 255 })),
    // IPv4, IPv6 and AF_UNIX address blocks, each maybe with TLVs after it; or anything up to past the limit.
    body: fc.oneof(
      fc.tuple(fc.constantFrom(12, 36, 216), fc.uint8Array({ maxLength: 40 })).chain(([size, tlvs]) => fc.uint8Array({ minLength: size, maxLength: size }).map((a) => Buffer.concat([a, tlvs]))),
      fc.uint8Array({ maxLength: V2_MAX_LENGTH + 40 }),
    ),
    declared: fc.option(fc.integer({ min: 0, max: 0xffff }), { freq: 4 }),
    rest: fc.uint8Array({ maxLength: 8 }),
  })
  .map(({ versionCommand, family, body, declared, rest }) => {
    const head = Buffer.from([versionCommand, family, 0, 0]);
    head.writeUInt16BE(declared ?? body.length, 2);
    return new Uint8Array(Buffer.concat([V2_SIGNATURE, head, body, rest]));
  });

/** What an ok header must look like: a length within the buffer and the version's limit, usable addresses. */
function checkHeaderShape(header: ProxyHeader, size: number): void {
  if (header.status === 'incomplete') return;
  if (header.status === 'invalid') {
    if (typeof header.reason !== 'string' || !header.reason) fail('an invalid header has no reason');
    return;
  }
  if (header.status !== 'ok') fail(`unknown status ${String((header as { status: unknown }).status)}`);
  const max = header.version === 1 ? V1_MAX_LENGTH : header.version === 2 ? V2_MAX_LENGTH : fail(`unknown version ${header.version}`);
  if (!Number.isInteger(header.length) || header.length < 1 || header.length > Math.min(size, max)) fail(`length ${header.length} is outside 1..${Math.min(size, max)}`);
  if ((header.source === undefined) !== (header.destination === undefined)) fail('a source without a destination (or the other way round)');
  for (const a of [header.source, header.destination]) {
    if (a && (isIP(a.address) === 0 || a.address.includes('%'))) fail(`address ${JSON.stringify(a.address)} is not a plain IP address`);
    if (a && !(Number.isInteger(a.port) && a.port >= 0 && a.port <= 65535)) fail(`port ${a.port} is not a port`);
  }
}

const proxyProtocol: Target<Uint8Array> = {
  name: 'proxy-protocol',
  arbitrary: fc.oneof(fc.uint8Array({ maxLength: 200 }), v1Line, v2Header, mutated(fc.oneof(v1Line, v2Header))),
  check(bytes) {
    const buf = Buffer.from(bytes);
    const header = parseProxyHeader(buf);
    checkHeaderShape(header, buf.length);
    if (!looksLikeProxyHeader(buf) && header.status !== 'invalid') fail(`looksLikeProxyHeader says no, the parser says ${header.status}`);
    if (header.status === 'incomplete') return;
    // The parser never reads past the header: what follows belongs to the TLS handshake.
    const more = parseProxyHeader(Buffer.concat([buf, Buffer.from('\r\n\0PROXY ')]));
    if (!isDeepStrictEqual(more, header)) fail(`bytes after the header changed the result to ${JSON.stringify(more)}`);
    if (header.status !== 'ok') return;
    if (!isDeepStrictEqual(parseProxyHeader(buf.subarray(0, header.length)), header)) fail('the header alone parses differently');
    if (parseProxyHeader(buf.subarray(0, header.length - 1)).status !== 'incomplete') fail('the header minus its last byte is not incomplete');
  },
};

// ---------------------------------------------------------------------------------------------
// 1b. ClientHello (wire/client-hello.ts), read before TLS while an ACME challenge waits.

/** A ClientHello record with this server name and these ALPN names (and nothing a parser needs besides). */
function helloRecord(servername: string | undefined, alpn: string[]): Buffer {
  const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
  const ext = (type: number, body: Buffer) => Buffer.concat([u16(type), u16(body.length), body]);
  const sni = servername === undefined ? [] : [ext(0, (() => { const name = Buffer.from(servername, 'latin1'); const entry = Buffer.concat([Buffer.from([0]), u16(name.length), name]); return Buffer.concat([u16(entry.length), entry]); })())];
  const names = Buffer.concat(alpn.map((a) => { const b = Buffer.from(a, 'latin1').subarray(0, 255); return Buffer.concat([Buffer.from([b.length]), b]); }));
  const extensions = Buffer.concat([...sni, ...(alpn.length ? [ext(16, Buffer.concat([u16(names.length), names]))] : [])]);
  const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32), Buffer.from([0]), u16(2), Buffer.from([0x13, 0x01]), Buffer.from([1, 0]), u16(extensions.length), extensions]);
  const handshake = Buffer.concat([Buffer.from([1, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([22, 3, 1]), u16(handshake.length), handshake]);
}

const hello = fc
  .record({ servername: fc.option(fc.oneof(fc.domain(), fc.string({ maxLength: 40 })), { nil: undefined }), alpn: fc.array(fc.oneof(fc.constantFrom('acme-tls/1', 'h2', 'http/1.1'), fc.string({ maxLength: 20 })), { maxLength: 6 }) })
  .filter((h) => helloRecord(h.servername, h.alpn).length <= 5 + 16_384)
  .map((h) => new Uint8Array(helloRecord(h.servername, h.alpn)));

const clientHello: Target<Uint8Array> = {
  name: 'client-hello',
  arbitrary: fc.oneof(fc.uint8Array({ maxLength: 300 }), hello, mutated(hello)),
  check(bytes) {
    const buf = Buffer.from(bytes);
    const parsed = parseClientHello(buf);
    if (parsed === 'more' || parsed === 'invalid') {
      if (parsed === 'more' && buf.length >= MAX_CLIENT_HELLO) fail('asks for more past one record');
      return;
    }
    if (!Array.isArray(parsed.alpn) || parsed.alpn.some((a) => typeof a !== 'string')) fail('alpn is not a list of strings');
    if (parsed.servername !== undefined && parsed.servername !== parsed.servername.toLowerCase()) fail('the server name is not lower-cased');
    // It reads one record: what follows (the rest of the handshake) changes nothing.
    if (!isDeepStrictEqual(parseClientHello(Buffer.concat([buf, Buffer.from([22, 3, 3, 0, 1, 0])])), parsed)) fail('bytes after the record changed the result');
  },
};

// ---------------------------------------------------------------------------------------------
// 2. ALPN and SNI selection (router.ts): a decision or a refusal with a reason, consistent with resolve().

const ALPN_NAMES = PROTOCOLS.flatMap((p) => p.alpn.flatMap((a) => [a, a + PING_SUFFIX]));
const alpnName = fc.oneof({ arbitrary: fc.constantFrom(...ALPN_NAMES, 'H2', 'http/1.0', 'spdy/3', ''), weight: 4 }, { arbitrary: fc.string({ maxLength: 12 }), weight: 1 }, { arbitrary: long(fc.string({ maxLength: 3 }), 256, 5000), weight: 1 });
const serverName = fc.option(
  fc.oneof(fc.domain(), fc.constantFrom('postern.localhost', 'kube.postern.localhost', 'KUBE.x', 'kube.', 'kube'), fc.string({ maxLength: 20 }), long(fc.constantFrom('a', 'kube.', '.', '\u00e9'), 256, 100_000)),
  { nil: undefined },
);
const offered = fc.oneof(
  { arbitrary: fc.array(alpnName, { maxLength: 8 }), weight: 10 },
  { arbitrary: fc.array(alpnName, { minLength: 24, maxLength: 40 }), weight: 1 },
  // A ClientHello holds up to 64 KiB of ALPN names: thousands of them.
  { arbitrary: fc.tuple(fc.array(alpnName, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1000, max: 20_000 })).map(([few, n]) => Array.from({ length: n }, (_, i) => few[i % few.length]!)), weight: 1 },
);

const alpn: Target<{ served: string[]; ping: boolean; servername: string | undefined; offered: string[] }> = {
  name: 'alpn-sni',
  arbitrary: fc.record({ served: fc.subarray(PROTOCOLS.map((p) => p.id)), ping: fc.boolean(), servername: serverName, offered }),
  check({ served, ping, servername, offered }) {
    const router = new Router();
    for (const id of served) router.register(id as never, { handle() {}, ping });
    const decision = router.selectAlpn(servername, offered);
    if (decision.ok) {
      if (!offered.includes(decision.alpn)) fail(`chose ${decision.alpn}, which the client did not offer`);
      if (!router.handler(decision.protocol.id)) fail(`chose ${decision.protocol.id}, which has no handler`);
      // The handshake's choice and the handler picked after it must agree.
      if (router.resolve(servername, decision.alpn)?.protocol !== decision.protocol) fail(`resolve() disagrees with the ALPN choice ${decision.alpn}`);
    } else if (typeof decision.reason !== 'string' || !decision.reason || typeof decision.message !== 'string' || !decision.message) {
      fail(`a refusal without a reason: ${JSON.stringify(decision).slice(0, 200)}`);
    }
    for (const name of [false as const, ...offered.slice(0, 3)]) {
      const resolved = router.resolve(servername, name);
      if (resolved && (!PROTOCOLS.includes(resolved.protocol) || typeof resolved.ping !== 'boolean')) fail(`resolve(${String(name)}) returned a protocol outside the table`);
    }
  },
};

// ---------------------------------------------------------------------------------------------
// 3. DER (der.ts, identity.ts): certificates edited byte by byte, and random bytes. Only plain Errors.

const keys = await generateKeyPair();
async function certificate(identity: Identity, notAfter: Date): Promise<Uint8Array> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0a',
    name: `O=Acme, CN=${identity.username}`,
    notBefore: new Date('2024-01-01T00:00:00Z'),
    notAfter,
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.BasicConstraintsExtension(false), ...identityExtensions(identity)],
  });
  return new Uint8Array(cert.rawData);
}
const CERTIFICATES = [
  await certificate({ kind: 'user', username: 'alice@example.com', roles: ['access', 'editor'], traits: { logins: ['root'] }, expires: new Date(0), route: { kind: 'app', name: 'grafana' } }, new Date('2031-05-06T07:08:09Z')),
  // GeneralizedTime (2050 and later) and a name long enough for multi-byte lengths.
  await certificate({ kind: 'host', username: 'x'.repeat(300), roles: [], traits: {}, expires: new Date(0) }, new Date('2051-01-02T03:04:05Z')),
];

/** Offsets of every element's tag and first length byte (in extension values too): where an edit changes the structure. */
function headerOffsets(buf: Uint8Array, start = 0, end = buf.length, out: number[] = []): number[] {
  for (let at = start; at < end; ) {
    let el: Der;
    try {
      el = readDer(buf, at, end);
    } catch {
      break; // an OCTET STRING whose contents are not DER
    }
    out.push(at, at + 1);
    if (el.tag & 0x20 || el.tag === TAG.octetString) headerOffsets(buf, el.start, el.end, out);
    at = el.end;
  }
  return out;
}
const HOT = new Map(CERTIFICATES.map((c) => [c, headerOffsets(c)]));

/** Every element in `buf` under `el`, read with each function of der.ts that fits its tag. */
function walk(buf: Uint8Array, el: Der, limit: number): void {
  if (!(el.start <= el.end && el.end <= limit)) fail(`element ${JSON.stringify(el)} runs past ${limit}`);
  mayThrow(
    () => {
      if (el.tag === TAG.oid && !/^\d+(\.\d+)+$/.test(oidText(buf, el))) fail('oidText returned a malformed OID');
      if (el.tag === TAG.utf8String) utf8(buf, el);
      if ((el.tag === TAG.utcTime || el.tag === TAG.generalizedTime) && Number.isNaN(time(buf, el).getTime())) fail('time() returned an invalid Date');
      if (el.tag & 0x20) for (const child of children(buf, el)) walk(buf, child, el.end);
    },
    plainError,
    'an Error',
  );
}

const der: Target<Uint8Array> = {
  name: 'der',
  arbitrary: fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated(fc.constantFrom(...CERTIFICATES), (c) => HOT.get(c) ?? [])),
  check(bytes) {
    mayThrow(
      () => {
        const fields = certificateFields(bytes);
        if (Number.isNaN(fields.notAfter.getTime())) fail('notAfter is an invalid Date');
        if (fields.commonName !== undefined && typeof fields.commonName !== 'string') fail('the common name is not a string');
        for (const ext of fields.extensions.values()) if (ext.tag !== TAG.octetString || ext.end > bytes.length) fail('an extension value is out of place');
      },
      plainError,
      'an Error',
    );
    // identity.ts parses its JSON extensions with JSON.parse, whose SyntaxError says what is wrong.
    mayThrow(() => identityFromCertificate(bytes), (err) => plainError(err) || err instanceof SyntaxError, 'an Error or SyntaxError');
    let top: Der | undefined;
    mayThrow(() => (top = readDer(bytes, 0)), plainError, 'an Error');
    if (top) walk(bytes, top, bytes.length);
  },
};

// ---------------------------------------------------------------------------------------------
// 4. CONNECT authorities (routes/route-table.ts, net/addr.ts): a route or none; host:port or a reason.

const ROUTES = new RouteTable([
  { from: 'tcp+https://ssh.example.com:22', to: 'tcp://10.0.0.5:22', labels: {} },
  { from: 'tcp+https://ssh.example.com:2222', app: 'ssh2', labels: {} },
  { from: 'tcp+https://10.1.2.3:5432', to: 'tcp://[::1]:5432', labels: {} },
] as never);
const AUTHORITIES = ['ssh.example.com:22', 'SSH.Example.com:2222', ' 10.1.2.3:5432 ', 'ssh.example.com', '[::1]:22', '[fe80::1%eth0]:22', '*:80', 'a:b:c', ':22', 'host:', '[]:1', '[::1]x'];
const authority = fc.oneof(
  fc.constantFrom(...AUTHORITIES),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.tuple(fc.oneof(fc.domain(), fc.ipV4(), fc.ipV6().map((ip) => `[${ip}]`), fc.ipV6()), fc.constantFrom(':', '', '::', ': '), port).map((parts) => parts.join('')),
  long(fc.constantFrom('a', ':', '1', '[', 'a.'), 256, 20_000),
);

const connectAuthority: Target<{ authority: string; defaultPort: number | undefined }> = {
  name: 'connect-authority',
  arbitrary: fc.record({ authority, defaultPort: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }) }),
  check({ authority, defaultPort }) {
    const route = ROUTES.match(authority);
    const sameHost = ROUTES.sameHost(authority);
    if (route && route.authority !== authority.trim().toLowerCase()) fail(`matched ${route.authority}, which is not what was asked for`);
    if (sameHost.some((r) => ROUTES.match(r.authority) !== r)) fail('sameHost() returned a route that is not in the table');
    if (route && !sameHost.includes(route)) fail(`sameHost() leaves out the matching route ${route.authority}`);
    const parsed = parseHostPort(authority, defaultPort);
    if (typeof parsed === 'string') {
      if (!parsed) fail('an empty reason');
      return;
    }
    if (!parsed.host || !Number.isInteger(parsed.port) || parsed.port < 0 || parsed.port > 65535) fail(`parsed to ${JSON.stringify(parsed)}`);
    const again = parseHostPort(formatHostPort(parsed));
    if (!isDeepStrictEqual(again, parsed)) fail(`${formatHostPort(parsed)} parses back to ${JSON.stringify(again)}`);
  },
};

// ---------------------------------------------------------------------------------------------
// 5. Agent tunnels (wire/tunnel.ts, agent-resources.ts, resources/table.ts): the stream headers
//    and the resources an agent announces, both read by the side that did not write them.

/** An agent that serves nothing: every stream is refused, with the kind and name in the reason. */
const AGENT = new AgentResources(configSchema.parse({ agent: { proxy: 'postern.localhost:3080' } }).agent!, 'fuzz-agent', silentLogger);

const tunnelHeaders: Target<{ kind: string; name: string; error: string }> = {
  name: 'tunnel-headers',
  arbitrary: fc.record({ kind: fc.oneof(fc.constantFrom('app', 'node', 'db', ''), headerValue), name: headerValue, error: headerValue }),
  check({ kind, name, error }) {
    // The proxy reads an agent's refusal (postern-error) into its error message, whatever it holds.
    if (typeof errorReason(error) !== 'string') fail('errorReason() did not return a string');
    // The agent refuses a stream for anything it does not serve, naming it in a header value.
    let sent: Record<string, unknown> | undefined;
    const stream = { closed: false, headersSent: false, respond: (headers: Record<string, unknown>) => (sent = headers) };
    AGENT.connect(kind as never, name, stream as unknown as ServerHttp2Stream, {});
    const value = sent?.['postern-error'];
    if (sent?.[':status'] !== 404 || typeof value !== 'string') fail(`the refusal was ${JSON.stringify(sent)}`);
    if (!/^[\x21-\x7e]*$/.test(value)) fail(`the postern-error header ${JSON.stringify(value)} is not a valid header value`);
    const reason = errorReason(value);
    if (reason !== `this agent does not serve ${kind} "${name}"`) fail(`the refusal reads back as ${JSON.stringify(reason)}`);
  },
};

/** The announcement fields of every kind, from their schemas, so the generator reaches past the kind check. */
const ANNOUNCEMENT_FIELDS = [...new Set(announcedResource.options.flatMap((o) => Object.keys(o.shape)))];
const fieldValue = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('grafana', 'web-1', 'app', 'node', 'db', 'http://localhost:3000', 'grafana.example.com', 'x'.repeat(300)), fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 })), fc.array(fc.string({ maxLength: 6 })), fc.boolean(), fc.integer());
const announcement = fc.oneof(fc.anything({ maxDepth: 2 }), fc.dictionary(fc.constantFrom(...ANNOUNCEMENT_FIELDS), fieldValue));
const resourcesText = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc.record({ version: fc.oneof(fc.integer(), fc.double(), fc.string()), agent: fc.record({ name: fc.string(), version: fc.string() }), resources: fc.array(announcement, { maxLength: 10 }) }).map((m) => JSON.stringify(m)),
);

const tunnelResources: Target<{ text: string; roles: string[] }> = {
  name: 'tunnel-resources',
  arbitrary: fc.record({ text: resourcesText, roles: fc.subarray([...AGENT_ROLES, 'kube', '']) }),
  check({ text, roles }) {
    let value: unknown;
    try {
      value = JSON.parse(text); // as agent-tunnel.ts reads a poll's answer; malformed JSON closes the tunnel
    } catch {
      return;
    }
    const message = resourcesMessage.safeParse(value);
    if (!message.success) return;
    // Each announcement is judged on its own: a bad one is left out, it never takes the tunnel down.
    const { accepted, refused } = acceptResources(message.data.resources, roles);
    if (accepted.length + refused.length !== message.data.resources.length) fail('announcements went missing');
    if (accepted.some((r) => !roles.includes(joinRoleOf(r.kind)))) fail("accepted a resource the agent's roles do not allow");
    if (refused.some((reason) => typeof reason !== 'string' || !reason)) fail('a refusal without a reason');
  },
};

// ---------------------------------------------------------------------------------------------
// 6. postern.yaml (config/load.ts) and ctl documents (admin/documents.ts, policy/role.ts): a value
//    or a PosternError with a message.

// yaml warns (a process warning) of every mapping key that is itself a list or a mapping (`? [a]`);
// generated YAML has many, and the lines would bury the report. Other warnings still print.
for (const listener of process.listeners('warning')) {
  process.off('warning', listener);
  process.on('warning', (warning) => warning.message.startsWith('Keys with collection values') || listener(warning));
}

const SAMPLE = sampleConfig();
const CONFIG_WORDS = keysAndValues(SAMPLE);
/** loadConfig reads a file: one per process and thread, rewritten for each input and removed after it. */
const CONFIG_FILE = join(tmpdir(), `postern-fuzz-${process.pid}-${threadId}.yaml`);

const config: Target<string> = {
  name: 'config-yaml',
  arbitrary: fc.oneof(yamlText(CONFIG_WORDS.keys, CONFIG_WORDS.values), yamlTree(CONFIG_WORDS.keys, CONFIG_WORDS.values), editedLines(SAMPLE, CONFIG_WORDS.values)),
  check(text) {
    writeFileSync(CONFIG_FILE, text);
    try {
      mayThrow(
        () => {
          const { config } = loadConfig({ file: CONFIG_FILE, cwd: tmpdir() });
          if (typeof config.cluster_name !== 'string' || !config.roles.length || !Number.isInteger(config.proxy.listen_addr.port)) fail(`loaded a config without a cluster name, roles or port: ${JSON.stringify(config).slice(0, 200)}`);
        },
        posternError,
        'a PosternError',
      );
    } finally {
      rmSync(CONFIG_FILE, { force: true });
    }
  },
};

const DOCUMENT_SAMPLES = [DEV_ACCESS_YAML, ...BUILTIN_ROLES.map((r) => stringify(roleToYaml(r))), 'kind: user\nversion: v1\nmetadata: { name: alice }\nspec: { roles: [access], traits: { logins: [root] } }\n', 'kind: token\nversion: v1\nmetadata: {}\nspec: { roles: [app, ssh], ttl: 30m }\n', 'kind: lock\nversion: v1\nmetadata: { name: x }\nspec: { target: { user: alice }, message: why, ttl: 1h }\n'];
const DOCUMENT_WORDS = keysAndValues(DOCUMENT_SAMPLES.join('\n'));
DOCUMENT_WORDS.keys.push(...RESOURCE_TABLE.flatMap((row) => [row.labelField, ...row.roleLists.map((l) => l.field)]), 'kind', 'rules', 'resources', 'verbs');
DOCUMENT_WORDS.values.push(...DOCUMENT_KINDS, ...RESOURCE_TABLE.map((row) => row.kind), '"{{internal.logins}}"', '"{{external.groups}}"', '"{{internal.x"', '"^(web|api)$"', '"^(a"', '*', '[list, read]', '[user]', '{ env: dev }');

const documents: Target<string> = {
  name: 'ctl-documents',
  arbitrary: fc.oneof(
    yamlText(DOCUMENT_WORDS.keys, DOCUMENT_WORDS.values),
    yamlTree(DOCUMENT_WORDS.keys, DOCUMENT_WORDS.values),
    fc.nat(DOCUMENT_SAMPLES.length - 1).chain((i) => editedLines(DOCUMENT_SAMPLES[i]!, DOCUMENT_WORDS.values)),
    fc.array(fc.constantFrom(...DOCUMENT_SAMPLES), { minLength: 2, maxLength: 3 }).map((docs) => docs.join('---\n')),
  ),
  check(text) {
    mayThrow(
      () => {
        for (const { doc } of checkDocuments(text, 'fuzz.yaml')) if (!DOCUMENT_KINDS.includes(doc.kind)) fail(`checked a document of kind ${doc.kind}`);
      },
      posternError,
      'a PosternError',
    );
  },
};

// ---------------------------------------------------------------------------------------------
// 7. Cookies (web/body.ts): the value, nothing, or a PosternError that answers 4xx.

const COOKIE_NAMES = ['__Host-postern_session', '__Host-postern_app', '__Host-postern_app_state'];
const cookieValue = fc.oneof(fc.string({ maxLength: 12 }), headerValue, fc.constantFrom('', '"quoted"', 'a=b', ' spaced ', '%41%42'));
const cookieHeader = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...COOKIE_NAMES, ''), fc.string({ maxLength: 6 })), fc.constantFrom('=', '=', '', ' = '), cookieValue), { maxLength: 6 })
  .chain((pairs) => fc.constantFrom('; ', ';', ' ; ').map((sep) => pairs.map((p) => p.join('')).join(sep)));

const cookies: Target<{ header: string | undefined; name: string }> = {
  name: 'cookies',
  arbitrary: fc.record({ header: fc.option(cookieHeader, { nil: undefined }), name: fc.oneof(fc.constantFrom(...COOKIE_NAMES), fc.string({ maxLength: 6 })) }),
  check({ header, name }) {
    mayThrow(
      () => {
        const value = cookie({ cookie: header }, name);
        if (value !== undefined && typeof value !== 'string') fail(`returned ${typeof value}`);
      },
      (err) => posternError(err) && err.status >= 400 && err.status < 500,
      'a PosternError with a 4xx status',
    );
  },
};

// ---------------------------------------------------------------------------------------------
// 10. PostgreSQL startup packets (wire/postgres.ts): incomplete, invalid or ok, never a throw.

const pgParameter = fc.tuple(fc.oneof(fc.constantFrom('user', 'database', 'application_name', 'options', 'replication', '_pq_.x'), fc.string({ maxLength: 12 })), fc.string({ maxLength: 24 }));
const pgStartup = fc
  .tuple(fc.array(pgParameter, { maxLength: 8 }), fc.constantFrom(0, 2, 1, 0xffff))
  .map(([parameters, minor]) => new Uint8Array(startupMessage(parameters.map(([k, v]) => [k.replace(/\0/g, ''), v.replace(/\0/g, '')] as [string, string]), minor)));
const pgRequest = fc
  .tuple(fc.constantFrom(80877103, 80877104, 80877102, 80877199), fc.uint8Array({ maxLength: 300 }))
  .map(([code, body]) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(8 + body.length, 0);
    head.writeUInt32BE(code, 4);
    return new Uint8Array(Buffer.concat([head, body]));
  });

const postgresStartup: Target<Uint8Array> = {
  name: 'postgres-startup',
  // Edits land on the length and code most often: those are what a parser trusts first.
  arbitrary: fc.oneof(fc.uint8Array({ maxLength: 64 }), pgStartup, pgRequest, mutated(fc.oneof(pgStartup, pgRequest), () => [0, 3, 4, 7])),
  check(bytes) {
    const buf = Buffer.from(bytes);
    const read = parseStartupPacket(buf);
    if (read.status === 'invalid' && !read.reason) fail('refused without a reason');
    if (read.status !== 'ok') return;
    if (read.length < 8 || read.length > buf.length || read.length > MAX_STARTUP_LENGTH) fail(`ok with a length of ${read.length} for ${buf.length} bytes`);
    if (read.packet.type === 'startup' && (!read.packet.user || !read.packet.database)) fail('a startup message with no user or database');
    // Bytes after the packet (the client's next one) never change it, and a packet minus its last byte is incomplete.
    if (!isDeepStrictEqual(parseStartupPacket(Buffer.concat([buf, Buffer.from([0, 0, 0, 8])])), read)) fail('bytes after the packet changed the result');
    if (parseStartupPacket(buf.subarray(0, read.length - 1)).status !== 'incomplete') fail('the packet minus its last byte is not incomplete');
  },
};

// ---------------------------------------------------------------------------------------------
// 11. MySQL/MariaDB handshake responses (wire/mysql.ts): a packet, then the client's answer; never a throw.

const lenenc = (n: number) => (n < 0xfb ? Buffer.from([n]) : Buffer.from([0xfc, n & 0xff, n >> 8]));
const lenencString = (s: string) => Buffer.concat([lenenc(Buffer.byteLength(s)), Buffer.from(s)]);
const mysqlResponse = fc
  .record({
    capabilities: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.subarray(Object.values(CLIENT)).map((flags) => flags.reduce((a, b) => a | b, 0))),
    user: fc.string({ maxLength: 16 }),
    auth: fc.uint8Array({ maxLength: 40 }),
    database: fc.string({ maxLength: 16 }),
    plugin: fc.constantFrom('mysql_native_password', 'client_ed25519', ''),
    attributes: fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 20 })), { maxLength: 6 }),
  })
  .map(({ capabilities, user, auth, database, plugin, attributes }) => {
    const fixed = Buffer.alloc(32);
    fixed.writeUInt32LE(capabilities >>> 0, 0);
    const attrs = Buffer.concat(attributes.flatMap(([k, v]) => [lenencString(k), lenencString(v)]));
    const payload = Buffer.concat([fixed, Buffer.from(`${user.replace(/\0/g, '')}\0`), lenenc(auth.length), auth, Buffer.from(`${database.replace(/\0/g, '')}\0${plugin}\0`), lenenc(attrs.length), attrs]);
    return new Uint8Array(packet(1, payload));
  });

const mysqlHandshake: Target<Uint8Array> = {
  name: 'mysql-handshake',
  // Edits land on the packet length and the capability flags most often: they decide what is read next.
  arbitrary: fc.oneof(fc.uint8Array({ maxLength: 80 }), mysqlResponse, mutated(mysqlResponse, () => [0, 1, 2, 4, 5, 6, 7, 36])),
  check(bytes) {
    const buf = Buffer.from(bytes);
    const read = readPacket(buf);
    if (read.status === 'invalid' && !read.reason) fail('a packet refused without a reason');
    if (read.status !== 'ok') return;
    if (read.length !== 4 + read.payload.length || read.length > buf.length) fail(`ok with a length of ${read.length} for ${buf.length} bytes`);
    const answer = parseHandshakeResponse(read.payload);
    if (answer.status === 'invalid') {
      if (!answer.reason) fail('a response refused without a reason');
      return;
    }
    if (!(answer.response.capabilities & CLIENT.PROTOCOL_41)) fail('accepted a client without protocol 4.1');
    if (answer.response.type === 'response' && !answer.response.user) fail('a response with no user');
  },
};

// ---------------------------------------------------------------------------------------------
// 12. PostgreSQL messages after the startup (proxy/db/postgres-queries.ts): read as they stream
//     past for the query audit; never a throw, and the same statements however the bytes are cut.

const pgMessage = fc
  .tuple(fc.constantFrom('Q', 'P', 'B', 'E', 'C', 'S', 'D', 'd', 'X'), fc.array(fc.oneof(fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 12 })), { maxLength: 5 }))
  .map(([type, parts]) => {
    const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p.replace(/\0/g, '') + '\0') : Buffer.from(p))));
    const head = Buffer.alloc(5);
    head.write(type, 0, 'latin1');
    head.writeUInt32BE(4 + body.length, 1);
    return Buffer.concat([head, body]);
  });
const pgSession = fc.array(pgMessage, { maxLength: 12 }).map((m) => new Uint8Array(Buffer.concat(m)));

const postgresQueries: Target<{ bytes: Uint8Array; cuts: number[] }> = {
  name: 'postgres-queries',
  arbitrary: fc.record({ bytes: fc.oneof(fc.uint8Array({ maxLength: 200 }), pgSession, mutated(pgSession)), cuts: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }) }),
  check({ bytes, cuts }) {
    const read = (chunks: number[]) => {
      const seen: unknown[] = [];
      const reader = new PostgresQueryReader((q) => seen.push(q));
      for (let at = 0, i = 0; at < bytes.length; at += chunks[i++ % chunks.length]!) reader.feed(Buffer.from(bytes.subarray(at, at + chunks[i % chunks.length]!)));
      return seen;
    };
    const whole = read([bytes.length || 1]);
    if (!isDeepStrictEqual(read(cuts), whole)) fail('cutting the bytes differently changed the statements read');
  },
};

// 13. MySQL commands after the connection phase (proxy/db/mysql-commands.ts): both directions
//     read as they stream past for the query audit and COM_CHANGE_USER; never a throw, and the
//     same statements and stops however the bytes are cut.

const mysqlPacket = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0x11, 0x16, 0x17, 0x19, 0x1f, 0xfe, 0xff), fc.uint8Array({ maxLength: 16 }))
  .map(([sequence, first, rest]) => packet(sequence, Buffer.concat([Buffer.from([first]), Buffer.from(rest)])));
const mysqlTurns = fc.array(fc.record({ client: fc.array(mysqlPacket, { maxLength: 3 }), server: fc.array(mysqlPacket, { maxLength: 3 }) }), { maxLength: 6 });

const mysqlCommands: Target<{ turns: { client: Buffer[]; server: Buffer[] }[]; cut: number }> = {
  name: 'mysql-commands',
  arbitrary: fc.record({ turns: mysqlTurns, cut: fc.integer({ min: 1, max: 24 }) }),
  check({ turns, cut }) {
    const read = (chunk: number) => {
      const seen: unknown[] = [];
      const reader = new MysqlCommandReader((q) => seen.push(q));
      for (const turn of turns) {
        const client = Buffer.concat(turn.client);
        for (let at = 0; at < client.length; at += chunk) {
          const stop = reader.fromClient(client.subarray(at, at + chunk));
          // A stopped session sends nothing more: the rest of the bytes never reach the reader.
          if (stop) return [...seen, { stop }];
        }
        const server = Buffer.concat(turn.server);
        for (let at = 0; at < server.length; at += chunk) reader.fromServer(server.subarray(at, at + chunk));
      }
      return seen;
    };
    if (!isDeepStrictEqual(read(cut), read(1 << 20))) fail('cutting the bytes differently changed the statements read');
  },
};

/** Every target, in the order `npm run fuzz` runs them. */
export const TARGETS: readonly Target[] = [proxyProtocol, clientHello, alpn, der, connectAuthority, tunnelHeaders, tunnelResources, config, documents, cookies, postgresStartup, mysqlHandshake, postgresQueries, mysqlCommands];
