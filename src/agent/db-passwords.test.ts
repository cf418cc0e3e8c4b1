import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { parseResourceFlag } from '../config/resource-flags.js';
import { Logger } from '../log/logger.js';
import { AgentResources } from './agent-resources.js';
import { checkPasswordFile, readPasswordFile } from './db-passwords.js';

function passwordFile(text: string, mode = 0o600): string {
  const file = join(mkdtempSync(join(tmpdir(), 'postern-dbpw-')), 'orders.password');
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
}

function capturingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger({ level: 'warn', format: 'json', sink: { write: (line) => lines.push(line) } }), lines };
}

/** An agent's config from `--db` flags, as `postern start --roles=agent` loads it. */
function agentConfig(...dbFlags: string[]) {
  const overrides = [{ path: 'agent.proxy', flag: '--proxy', value: 'postern.example.com:443' }, { path: 'agent.databases', flag: '--db', value: dbFlags.map((f) => parseResourceFlag('--db', f)) }];
  return loadConfig({ cwd: tmpdir(), overrides }).config.agent!;
}

describe('database password files', () => {
  it('reads the password without one trailing newline, at each call', async () => {
    const file = passwordFile('s3cret\n');
    expect(await readPasswordFile(file, 'orders')).toBe('s3cret');
    writeFileSync(file, 'rotated\r\n');
    expect(await readPasswordFile(file, 'orders')).toBe('rotated');
    writeFileSync(file, 'ends with two\n\n');
    expect(await readPasswordFile(file, 'orders')).toBe('ends with two\n');
  });

  it('says which file is missing or empty, and what to write', async () => {
    await expect(readPasswordFile('/nonexistent/orders.password', 'orders')).rejects.toThrow(
      "the password file /nonexistent/orders.password of database orders cannot be read (ENOENT: no such file or directory); write the database user's password to it",
    );
    await expect(readPasswordFile(passwordFile('\n'), 'orders')).rejects.toThrow(/is empty; write the database user's password to it \(or remove password_file/);
  });

  it('warns at start about a file open to other users or missing, naming the file but never the password', () => {
    const { log, lines } = capturingLogger();
    const shared = passwordFile('s3cret\n', 0o644);
    checkPasswordFile(shared, 'orders', log);
    checkPasswordFile(passwordFile('s3cret\n'), 'orders', log);
    checkPasswordFile('/nonexistent/orders.password', 'orders', log);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(`the password file ${shared} of database orders is open to other users (mode 0644); chmod 600 it`);
    expect(lines[1]).toContain('the password file /nonexistent/orders.password of database orders cannot be read (ENOENT: no such file or directory); sessions to orders are refused until it can');
    expect(lines.join('')).not.toContain('s3cret');
  });

  it('takes password_file from --db, keeps it on the agent (never announced), and checks it at start', () => {
    const file = passwordFile('s3cret\n', 0o640);
    const config = agentConfig(`name=orders,protocol=postgres,uri=127.0.0.1:5432,password_file=${file},labels=env=dev`);
    expect(config.databases[0]).toMatchObject({ name: 'orders', password_file: file, labels: { env: 'dev' } });
    const { log, lines } = capturingLogger();
    const resources = new AgentResources(config, 'agent-1', log);
    expect(JSON.stringify(resources.list())).not.toContain(file);
    expect(lines.join('')).toContain(`the password file ${file} of database orders is open to other users (mode 0640)`);
    expect(() => agentConfig('name=orders,protocol=postgres,uri=127.0.0.1:5432,password_file=orders.password')).toThrow(/give the password file as an absolute path/);
  });
});
