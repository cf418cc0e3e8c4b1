/**
 * Polls `probe` until it returns a value other than undefined, or throws `describe()` after the
 * timeout. For facts that other processes make true a little later (a log line, an access-log
 * entry written when nginx closes its session), never for timing assertions.
 */
export async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, describe: () => string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${describe()} (waited ${timeoutMs} ms)`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
