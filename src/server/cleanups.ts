/**
 * What a starting server has to undo: each component registers its stop as it starts, and run()
 * stops them in reverse order (last started, first stopped). Running it again waits for the first run.
 */
export class Cleanups {
  private readonly steps: (() => Promise<void> | void)[] = [];
  private running: Promise<void> | undefined;

  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }

  run(): Promise<void> {
    return (this.running ??= (async () => {
      for (const step of [...this.steps].reverse()) await step();
    })());
  }
}
