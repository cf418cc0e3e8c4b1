import { runWorkerOp } from '../compliance-ops.js';
import { SqliteBackend } from './sqlite-backend.js';

// argv: <db path> <op> [args…]; see compliance-ops.ts.
const [path, op, ...args] = process.argv.slice(2);
await runWorkerOp(new SqliteBackend({ path: path! }), op!, args);
