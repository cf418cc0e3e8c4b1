import type { Command } from 'commander';
import { sampleConfig } from '../config/sample.js';

export function registerConfigure(program: Command): void {
  program
    .command('configure')
    .summary('print a commented sample postern.yaml')
    .description('Print a commented postern.yaml with every key and its default. Save it with:\n  postern configure > postern.yaml')
    .action(() => {
      process.stdout.write(sampleConfig());
    });
}
