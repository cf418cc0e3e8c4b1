/**
 * The audit writer thread: a connection of its own to the store, writing the batches the log
 * posts, in the order posted, and answering each with its rows' indexes (or why it failed).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../storage/sqlite/sqlite-backend.js';
import { decodeRows, insertRows, prepareInsert } from './sqlite-audit-rows.js';
import type { WriterReply, WriterRequest } from './sqlite-audit-writers.js';

const port = parentPort!;
const db = openDatabase((workerData as { path: string }).path);
const insert = prepareInsert(db);

port.on('message', (request: WriterRequest) => {
  if (request.close) {
    db.close();
    port.close();
    return;
  }
  let reply: WriterReply;
  try {
    reply = { id: request.id, indexes: insertRows(db, insert, decodeRows(request.rows)) };
  } catch (err) {
    reply = { id: request.id, error: (err as Error).message };
  }
  port.postMessage(reply);
});
