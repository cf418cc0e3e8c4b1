import { createServer, type Server, type Socket } from 'node:net';

/**
 * The TCP target behind every relay: in `upload` mode it counts bytes and reports when `total`
 * arrived; in `download` mode it sends `total` bytes to each connection and ends (Infinity: until
 * the connection goes); in `echo` mode it sends back what it gets.
 */
export class Sink {
  private server!: Server;
  port = 0;
  private onUpload: ((bytes: number) => void) | undefined;

  constructor(
    private readonly mode: 'upload' | 'download' | 'echo',
    private readonly total: number,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((s) => this.serve(s));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Resolves when the next upload connection has delivered `total` bytes. */
  nextUpload(): Promise<void> {
    return new Promise((resolve) => (this.onUpload = (bytes) => bytes >= this.total && resolve()));
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private serve(socket: Socket): void {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    if (this.mode === 'echo') return void socket.pipe(socket);
    if (this.mode === 'download') {
      const chunk = Buffer.alloc(64 * 1024, 0x5a);
      let left = this.total;
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
      return;
    }
    let got = 0;
    socket.on('data', (d: Buffer) => {
      got += d.length;
      this.onUpload?.(got);
    });
  }
}
