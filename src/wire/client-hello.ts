/**
 * What a TLS ClientHello asks for, read from the first bytes of a connection before TLS starts:
 * the server name (SNI) and the ALPN names offered. Used only while an ACME TLS-ALPN-01
 * challenge waits, to send the validator's connection to the challenge's certificate; every
 * other connection goes to OpenSSL untouched.
 */
export interface ClientHelloInfo {
  servername?: string;
  alpn: string[];
}

/** The most a ClientHello may take here: one TLS record (a hello in several is not read). */
export const MAX_CLIENT_HELLO = 5 + 16_384;

/**
 * Parses the ClientHello at the start of `data`. `more` when the record is not complete yet;
 * `invalid` when the bytes are not one (the caller hands them to TLS, which says so properly).
 */
export function parseClientHello(data: Buffer): ClientHelloInfo | 'more' | 'invalid' {
  if (data.length < 5) return 'more';
  // A handshake record (22) of TLS 1.0-1.3 (3.x).
  if (data[0] !== 22 || data[1] !== 3) return 'invalid';
  const recordLength = data.readUInt16BE(3);
  if (recordLength > 16_384) return 'invalid';
  if (data.length < 5 + recordLength) return 'more';
  const r = new Reader(data.subarray(5, 5 + recordLength));
  try {
    if (r.u8() !== 1) return 'invalid'; // client_hello
    const body = new Reader(r.bytes(r.u24()));
    body.skip(2 + 32); // legacy_version, random
    body.skip(body.u8()); // legacy_session_id
    body.skip(body.u16()); // cipher_suites
    body.skip(body.u8()); // legacy_compression_methods
    const info: ClientHelloInfo = { alpn: [] };
    if (body.done()) return info; // no extensions
    const extensions = new Reader(body.bytes(body.u16()));
    while (!extensions.done()) {
      const type = extensions.u16();
      const ext = new Reader(extensions.bytes(extensions.u16()));
      if (type === 0) info.servername = serverName(ext);
      if (type === 16) info.alpn = protocolNames(ext);
    }
    return info;
  } catch {
    return 'invalid';
  }
}

/** server_name: a list of (type, name); the host_name entry (type 0). */
function serverName(ext: Reader): string | undefined {
  const list = new Reader(ext.bytes(ext.u16()));
  while (!list.done()) {
    const type = list.u8();
    const name = list.bytes(list.u16());
    if (type === 0) return name.toString('latin1').toLowerCase();
  }
  return undefined;
}

/** application_layer_protocol_negotiation: a list of length-prefixed names. */
function protocolNames(ext: Reader): string[] {
  const list = new Reader(ext.bytes(ext.u16()));
  const names: string[] = [];
  while (!list.done()) names.push(list.bytes(list.u8()).toString('latin1'));
  return names;
}

/** Reads big-endian fields, throwing past the end (the parser turns that into `invalid`). */
class Reader {
  private at = 0;

  constructor(private readonly buf: Buffer) {}

  done(): boolean {
    return this.at >= this.buf.length;
  }

  u8(): number {
    return this.take(1).readUInt8(0);
  }

  u16(): number {
    return this.take(2).readUInt16BE(0);
  }

  u24(): number {
    const b = this.take(3);
    return (b[0]! << 16) | (b[1]! << 8) | b[2]!;
  }

  bytes(n: number): Buffer {
    return this.take(n);
  }

  skip(n: number): void {
    this.take(n);
  }

  private take(n: number): Buffer {
    if (this.at + n > this.buf.length) throw new RangeError('short ClientHello');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}
