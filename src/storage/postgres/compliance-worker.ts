import { runWorkerOp } from '../compliance-ops.js';
import { PostgresBackend } from './postgres-backend.js';

// argv: <connection string> <op> [args…]; see compliance-ops.ts.
const [connectionString, op, ...args] = process.argv.slice(2);
await runWorkerOp(new PostgresBackend({ connectionString: connectionString! }), op!, args);
