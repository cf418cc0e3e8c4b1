import { InvalidArgumentError } from 'commander';

/** The fields each resource flag takes besides `labels`. */
const FIELDS = {
  '--app': ['name', 'uri', 'description', 'public_addr', 'insecure_skip_verify'],
  '--ssh': ['name', 'addr', 'description'],
  '--db': ['name', 'protocol', 'uri', 'description'],
} as const;
export type ResourceFlag = keyof typeof FIELDS;

/**
 * Parses one `--app`/`--ssh`/`--db` value: comma-separated `field=value` pairs, where `labels=`
 * starts the labels and every later `key=value` that is not a field is one more label:
 * `name=grafana,uri=http://localhost:3000,labels=env=dev,team=web`.
 */
export function parseResourceFlag(flag: ResourceFlag, text: string): Record<string, unknown> {
  const fields: readonly string[] = FIELDS[flag];
  const out: Record<string, unknown> = {};
  let labels: Record<string, string> | undefined;
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`"${part}" is not field=value (example: ${example(flag)})`);
    const key = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    if (key === 'labels') {
      labels ??= {};
      if (value) addLabel(labels, value, flag);
    } else if (fields.includes(key)) {
      out[key] = value;
    } else if (labels) {
      labels[key] = value;
    } else {
      throw new InvalidArgumentError(`unknown field "${key}"; ${flag} takes ${[...fields, 'labels'].join(', ')} (example: ${example(flag)})`);
    }
  }
  if (labels) out.labels = labels;
  return out;
}

function addLabel(labels: Record<string, string>, pair: string, flag: ResourceFlag): void {
  const i = pair.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`labels take key=value pairs, like labels=env=dev,team=web (example: ${example(flag)})`);
  labels[pair.slice(0, i)] = pair.slice(i + 1);
}

function example(flag: ResourceFlag): string {
  return {
    '--app': 'name=grafana,uri=http://localhost:3000,labels=env=dev',
    '--ssh': 'name=web-1,addr=127.0.0.1:22,labels=env=prod',
    '--db': 'name=pg,protocol=postgres,uri=127.0.0.1:5432,labels=env=dev',
  }[flag];
}
