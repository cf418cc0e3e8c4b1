import type { Http2Session, Http2Stream } from 'node:http2';
import type { Socket } from 'node:net';

export interface WindowTunerOptions {
  /** The smallest stream window, and the first: what a stream gets before anything is measured. */
  floor: number;
  /** The largest stream window (the session's own window must stay above it). */
  ceiling: number;
}

export const TUNER_DEFAULTS: WindowTunerOptions = { floor: 384 << 10, ceiling: 16 << 20 };

/** Below this many bytes in a round trip, nothing is moving in bulk: sample again later, not at once. */
const BUSY_BYTES = 32 << 10;
/** Samples are at least this far apart (a loopback round trip is a fraction of a millisecond). */
const SAMPLE_EVERY_MS = 10;
/** While only small exchanges are moving, sample this seldom. */
const QUIET_PAUSE_MS = 250;
/** How many samples the bandwidth is the best of (each about a round trip). */
const RATE_SAMPLES = 8;
/**
 * The window, in bandwidth-delay products. A window-limited stream has only half to two thirds of
 * its window in flight (the receiver hands window back in halves, as it reads), so a window of
 * four products keeps about two in flight: enough to grow while the window is the limit, and at
 * most about one product queued ahead of other streams once the path is full.
 */
const WINDOW_PER_BDP = 4;
/** A new window within this fraction of the current one is not worth a SETTINGS frame. */
const CHANGE_AT_LEAST = 0.25;

/**
 * Receiver-side flow control for an HTTP/2 session that carries byte streams beside small
 * exchanges (an agent tunnel). The stream window decides two things at once: how fast one stream
 * can go (one window per round trip) and how much of its data can be in flight ahead of the other
 * streams' frames in the one connection. So it should be what the path needs and no more: on
 * loopback or a LAN a few hundred KiB keep a stream at full speed, while an agent 50 ms away needs
 * several MiB to move more than a few MB/s.
 *
 * While the session has streams open, a PING about every 10 ms (every 250 ms when little moves)
 * measures the round trip, and the bytes read between samples give the rate. The window follows
 * the bandwidth-delay product (see WINDOW_PER_BDP): the best rate of the last few samples times
 * the lowest round trip seen. A stream held back by its window on a clear path grows its rate
 * with its window, so the window doubles each sample; once the path is full, the rate stops
 * growing and at most about one more round trip's worth of bytes waits in the connection ahead of
 * other streams. When bulk stops, the window falls back to the floor. Every stream's window is
 * the one setting SETTINGS_INITIAL_WINDOW_SIZE, which moves the windows of open streams too
 * (RFC 9113 §6.9.2). Whatever the peer does to the timing, the session's own window (32 MiB,
 * net/h2-flow.ts) still bounds what one session can make this end hold.
 *
 * The lowest round trip is kept for the session's life: a TCP connection keeps its path, and a
 * lowest that aged out while bytes queue would let the window ratchet up. PING is answered by the
 * peer's HTTP/2 layer, so the round trip leaves out the peer's event loop: on one machine it stays
 * under a millisecond and the window stays at the floor.
 */
export class WindowTuner {
  window: number;
  private openStreams = 0;
  private sampling = false;
  private changing = false;
  private lowestRtt = Infinity;
  /** The last few rates, in bytes per ms: the best of them is the path's bandwidth. */
  private readonly rates: number[] = [];

  constructor(
    private readonly session: Http2Session,
    private readonly socket: Pick<Socket, 'bytesRead'>,
    private readonly opts: WindowTunerOptions = TUNER_DEFAULTS,
  ) {
    this.window = opts.floor;
  }

  /** Samples while `stream` (one that carries bytes) is open. */
  track(stream: Http2Stream): void {
    this.openStreams++;
    stream.once('close', () => this.openStreams--);
    if (!this.sampling) void this.sample();
  }

  private async sample(): Promise<void> {
    this.sampling = true;
    // A PING asked for before the session is up is refused, not queued.
    if (this.session.connecting) await new Promise((r) => this.session.once('connect', r).once('close', r));
    let last = { at: performance.now(), bytes: this.socket.bytesRead };
    while (this.openStreams > 0 && !this.session.destroyed && !this.session.closed) {
      const before = this.socket.bytesRead;
      const rtt = await this.ping();
      if (rtt === undefined) break;
      this.lowestRtt = Math.min(this.lowestRtt, rtt);
      // The rate is taken since the previous sample, not over the ping alone: a window-limited
      // sender sends in bursts, one window per round trip, and a ping may fall between two.
      const now = { at: performance.now(), bytes: this.socket.bytesRead };
      // Rates from before a window change was acknowledged say nothing about the new window.
      if (this.changing) this.rates.length = 0;
      else this.adjust((now.bytes - last.bytes) / (now.at - last.at));
      last = now;
      const pause = now.bytes - before >= BUSY_BYTES ? SAMPLE_EVERY_MS - rtt : QUIET_PAUSE_MS;
      if (pause > 0) await new Promise((r) => setTimeout(r, pause).unref());
    }
    this.sampling = false;
  }

  /** The round trip in ms, or undefined once the session can no longer ping. */
  private ping(): Promise<number | undefined> {
    return new Promise((resolve) => {
      try {
        if (!this.session.ping((err, duration) => resolve(err ? undefined : duration))) resolve(undefined);
      } catch {
        resolve(undefined);
      }
    });
  }

  /** Sets the window from the bandwidth-delay product: the best recent rate over the lowest round trip. */
  private adjust(bytesPerMs: number): void {
    this.rates.push(bytesPerMs);
    if (this.rates.length > RATE_SAMPLES) this.rates.shift();
    const wanted = WINDOW_PER_BDP * Math.max(...this.rates) * this.lowestRtt;
    const next = Math.round(Math.min(this.opts.ceiling, Math.max(this.opts.floor, this.window / 2, Math.min(wanted, this.window * 2))));
    if (this.changing || Math.abs(next - this.window) < this.window * CHANGE_AT_LEAST) return;
    this.changing = true;
    try {
      this.session.settings({ initialWindowSize: next }, () => (this.changing = false));
      this.window = next;
    } catch {
      this.changing = false; // the session is closing
    }
  }
}
