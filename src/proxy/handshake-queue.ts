/** A connection's place in its address's line: released when its handshake is over, or it closed while waiting. */
export interface HandshakeTicket {
  release(): void;
}

interface Line {
  /** Handshakes started and not yet over. */
  active: number;
  /** Started in this turn of the event loop. */
  startedThisTurn: number;
  /** In arrival order (a Set keeps insertion order, and a connection that closes leaves in O(1)). */
  waiting: Set<() => void>;
}

/**
 * Starts TLS handshakes fairly across client addresses: each address starts at most `perTurn` in
 * one turn of the event loop, the rest wait for the next turns, and an address with `max`
 * handshakes under way or waiting is refused more. A handshake is about a millisecond of the event
 * loop: hundreds from one address, started at once, would hold everyone else's requests behind
 * the whole batch; taken a few per turn, they are interleaved with the rest of the loop's work.
 * Only starts are paced, so a client that trickles its ClientHello slows nobody's turn.
 * Addresses come as net/addr.ts addressKey() makes them (IPv6 shares a line per /64).
 */
export class HandshakeQueue {
  private readonly lines = new Map<string, Line>();
  private nextTurnScheduled = false;

  constructor(
    private readonly perTurn: number,
    readonly max: number,
    private readonly nextTurn: (run: () => void) => void = setImmediate,
  ) {}

  /**
   * Calls `start` now, or in a later turn; undefined (and `start` never called) when the address
   * already has `max` handshakes under way or waiting.
   */
  enter(key: string, start: () => void): HandshakeTicket | undefined {
    let line = this.lines.get(key);
    if (!line) this.lines.set(key, (line = { active: 0, startedThisTurn: 0, waiting: new Set() }));
    if (line.active + line.waiting.size >= this.max) return undefined;
    const queue = line;
    let state: 'waiting' | 'active' | 'done' = 'waiting';
    const run = () => {
      state = 'active';
      queue.active++;
      queue.startedThisTurn++;
      this.scheduleNextTurn();
      start();
    };
    if (queue.waiting.size === 0 && queue.startedThisTurn < this.perTurn) run();
    else {
      queue.waiting.add(run);
      this.scheduleNextTurn();
    }
    return {
      release: () => {
        if (state === 'done') return;
        if (state === 'waiting') queue.waiting.delete(run);
        else queue.active--;
        state = 'done';
        this.forgetIfEmpty(key, queue);
      },
    };
  }

  private scheduleNextTurn(): void {
    if (this.nextTurnScheduled) return;
    this.nextTurnScheduled = true;
    this.nextTurn(() => {
      this.nextTurnScheduled = false;
      for (const [key, line] of this.lines) {
        line.startedThisTurn = 0;
        for (const run of line.waiting) {
          if (line.startedThisTurn >= this.perTurn) break;
          line.waiting.delete(run);
          run();
        }
        this.forgetIfEmpty(key, line);
      }
    });
  }

  private forgetIfEmpty(key: string, line: Line): void {
    if (line.active === 0 && line.waiting.size === 0 && line.startedThisTurn === 0 && this.lines.get(key) === line) this.lines.delete(key);
  }
}
