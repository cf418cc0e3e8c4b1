import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { AuditRow } from './audit-rows.js';
import { encodeRows, insertRows, prepareInsert, type AuditRowWriter } from './sqlite-audit-rows.js';

/** Writes on the log's own connection, on the caller's thread: for short-lived processes (ctl) and tests. */
export class InlineWriter implements AuditRowWriter {
  private readonly insert;

  constructor(private readonly db: Database.Database) {
    this.insert = prepareInsert(db);
  }

  async write(rows: AuditRow[]): Promise<number[]> {
    return insertRows(this.db, this.insert, rows);
  }

  async close(): Promise<void> {}
}

/** A batch crosses as one string (encodeRows). */
export type WriterRequest = { id: number; rows: string; close?: undefined } | { close: true };
export type WriterReply = { id: number; indexes: number[] } | { id: number; error: string };

interface InFlight {
  resolve: (indexes: number[]) => void;
  reject: (err: Error) => void;
}

/**
 * Writes on a thread of its own, for the server: building, serialising and inserting an event
 * costs ~15 µs, and a batch of them some milliseconds, which on the event loop would sit between
 * a database client's statement and its answer (measured: a statement's event costs the loop
 * ~1 µs this way). The thread starts with the first write; one that dies fails what it held and
 * the next write starts another.
 */
export class ThreadWriter implements AuditRowWriter {
  private worker: Worker | undefined;
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 1;

  constructor(private readonly path: string) {}

  write(rows: AuditRow[]): Promise<number[]> {
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      worker.ref(); // answers are waited for: the process stays until they come
      worker.postMessage({ id, rows: encodeRows(rows) } satisfies WriterRequest);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    // Held until it has written and gone: unreferenced, the process could end first, mid-shutdown.
    worker.ref();
    worker.postMessage({ close: true } satisfies WriterRequest);
    await exited;
  }

  private start(): Worker {
    const worker = startWriterThread({ path: this.path });
    worker.unref();
    worker.on('message', (reply: WriterReply) => {
      const waiting = this.inFlight.get(reply.id);
      this.inFlight.delete(reply.id);
      if (this.inFlight.size === 0) worker.unref();
      if ('error' in reply) waiting?.reject(new Error(reply.error));
      else waiting?.resolve(reply.indexes);
    });
    const fail = (why: string) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiting of this.inFlight.values()) waiting.reject(new Error(`the audit writer thread ${why}`));
      this.inFlight.clear();
    };
    worker.on('error', (err) => fail(`failed: ${err.message}`));
    worker.on('exit', (code) => fail(`stopped (exit code ${code})`));
    return worker;
  }
}

function startWriterThread(workerData: { path: string }): Worker {
  const compiled = new URL('./sqlite-audit-writer-thread.js', import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return new Worker(compiled, { workerData });
  // Running from the TypeScript source (the unit tests): tsx compiles the thread's modules as they load.
  const source = new URL('./sqlite-audit-writer-thread.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); })`, { eval: true, workerData });
}
