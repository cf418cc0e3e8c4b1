import { isPosternError } from '../errors/postern-error.js';
import type { Backend } from './backend.js';

/**
 * Operations the compliance suite runs in separate processes, to prove that two processes sharing
 * one store see each other's writes and never lose a compare-and-swap race. A backend's worker
 * entry opens the backend and calls runWorkerOp with its argv.
 */
export async function runWorkerOp(backend: Backend, op: string, args: string[]): Promise<void> {
  switch (op) {
    case 'increment': {
      // Adds 1 to the counter at `key`, `times` times, with read + compare-and-swap retries.
      const [key, times] = [args[0]!, Number(args[1])];
      for (let i = 0; i < times; i++) {
        for (;;) {
          const cur = await backend.get(key);
          try {
            await backend.compareAndSwap(key, cur?.revision ?? null, String(Number(cur?.value ?? '0') + 1));
            break;
          } catch (err) {
            if (!isPosternError(err, 'COMPARE_FAILED')) throw err;
          }
        }
      }
      break;
    }
    case 'put':
      await backend.put(args[0]!, args[1]!);
      break;
    default:
      throw new Error(`unknown worker op ${op}`);
  }
  await backend.close();
}
