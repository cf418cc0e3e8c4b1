import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { writeSecretFile } from '../storage/secret-file.js';
import type { GatewaySpec, TerminalSpec } from '../wire/connect.js';

/** What Connect brings back at its next start. */
export interface WorkspaceParts {
  gateways: GatewaySpec[];
  terminals: TerminalSpec[];
}

/**
 * `<home>/connect/workspace.json` (0600): the gateways (with the ports they got) and the terminal
 * tabs open when Connect last changed them, per cluster by their `cluster` field. Read once at the
 * start; each part is written when it changes. A file that cannot be read is kept aside as
 * `workspace.json.unreadable`, not overwritten: the person may want what it held.
 */
export class Workspace {
  private readonly file: string;
  private parts: WorkspaceParts = { gateways: [], terminals: [] };

  constructor(
    home: string,
    private readonly log: Logger,
  ) {
    this.file = join(home, 'connect', 'workspace.json');
  }

  load(): WorkspaceParts {
    if (!existsSync(this.file)) return this.parts;
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<Record<keyof WorkspaceParts, unknown>>;
      this.parts = { gateways: asArray(parsed.gateways) as GatewaySpec[], terminals: asArray(parsed.terminals) as TerminalSpec[] };
    } catch (err) {
      renameSync(this.file, `${this.file}.unreadable`);
      this.log.warn(`${this.file} is not valid JSON; it is kept as ${this.file}.unreadable and Connect starts with an empty workspace`, { err });
    }
    return this.parts;
  }

  save<K extends keyof WorkspaceParts>(part: K, value: WorkspaceParts[K]): void {
    this.parts = { ...this.parts, [part]: value };
    writeSecretFile(this.file, JSON.stringify(this.parts, null, 2) + '\n');
  }
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
