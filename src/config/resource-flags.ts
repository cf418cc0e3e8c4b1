import { InvalidArgumentError } from 'commander';
import { AGENT_KINDS } from '../resources/table.js';

type Served = (typeof AGENT_KINDS)[number]['agent'];
export type ResourceFlag = Served['flag'];

function servedBy(flag: ResourceFlag): Served {
  return AGENT_KINDS.find((row) => row.agent.flag === flag)!.agent;
}

/**
 * Parses one `--app`/`--ssh`/`--db` value: comma-separated `field=value` pairs, where `labels=`
 * starts the labels and every later `key=value` that is not a field is one more label:
 * `name=grafana,uri=http://localhost:3000,labels=env=dev,team=web`. The fields are the resource
 * kind's own (resources/table.ts).
 */
export function parseResourceFlag(flag: ResourceFlag, text: string): Record<string, unknown> {
  const served = servedBy(flag);
  const fields: readonly string[] = served.flagFields;
  const out: Record<string, unknown> = {};
  let labels: Record<string, string> | undefined;
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`"${part}" is not field=value (example: ${served.flagExample})`);
    const key = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    if (key === 'labels') {
      labels ??= {};
      if (value) addLabel(labels, value, served.flagExample);
    } else if (fields.includes(key)) {
      out[key] = value;
    } else if (labels) {
      labels[key] = value;
    } else {
      throw new InvalidArgumentError(`unknown field "${key}"; ${flag} takes ${[...fields, 'labels'].join(', ')} (example: ${served.flagExample})`);
    }
  }
  if (labels) out.labels = labels;
  return out;
}

function addLabel(labels: Record<string, string>, pair: string, example: string): void {
  const i = pair.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`labels take key=value pairs, like labels=env=dev,team=web (example: ${example})`);
  labels[pair.slice(0, i)] = pair.slice(i + 1);
}
