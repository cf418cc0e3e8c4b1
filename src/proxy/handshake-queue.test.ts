import { describe, expect, it } from 'vitest';
import { addressKey } from '../net/addr.js';
import { HandshakeQueue } from './handshake-queue.js';

/** A queue whose turns of the event loop the test takes by hand. */
function queue(perTurn: number, max: number) {
  const turns: (() => void)[] = [];
  const q = new HandshakeQueue(perTurn, max, (run) => turns.push(run));
  return { q, nextTurn: () => turns.splice(0).forEach((run) => run()) };
}

describe('HandshakeQueue', () => {
  it('starts a few handshakes per address in a turn, the rest in later turns in arrival order, and refuses past the limit', () => {
    const { q, nextTurn } = queue(2, 5);
    const started: number[] = [];
    for (const n of [1, 2, 3, 4, 5]) expect(q.enter('10.0.0.1', () => started.push(n))).toBeDefined();
    expect(q.enter('10.0.0.1', () => started.push(6))).toBeUndefined();
    expect(q.enter('10.0.0.2', () => started.push(7))).toBeDefined(); // another address is not held up
    expect(started).toEqual([1, 2, 7]);
    nextTurn();
    expect(started).toEqual([1, 2, 7, 3, 4]);
    nextTurn();
    expect(started).toEqual([1, 2, 7, 3, 4, 5]);
  });

  it('counts handshakes under way against the limit until released, however slow they are', () => {
    const { q, nextTurn } = queue(10, 2);
    const first = q.enter('10.0.0.1', () => {})!;
    q.enter('10.0.0.1', () => {});
    nextTurn();
    expect(q.enter('10.0.0.1', () => {})).toBeUndefined();
    first.release();
    first.release(); // twice is once
    expect(q.enter('10.0.0.1', () => {})).toBeDefined();
    expect(q.enter('10.0.0.1', () => {})).toBeUndefined();
  });

  it('lets a connection that closes while waiting leave the line without starting', () => {
    const { q, nextTurn } = queue(1, 10);
    const started: string[] = [];
    q.enter(addressKey('2001:db8::1'), () => started.push('a'));
    const gone = q.enter(addressKey('2001:db8::2'), () => started.push('b'))!; // the same /64: the same line
    q.enter(addressKey('2001:db8::3'), () => started.push('c'));
    gone.release();
    nextTurn();
    expect(started).toEqual(['a', 'c']);
  });
});
