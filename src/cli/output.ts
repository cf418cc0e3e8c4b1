import { Option } from 'commander';
import { stringify } from 'yaml';

export type Format = 'text' | 'json' | 'yaml';

export function formatOption(): Option {
  return new Option('--format <format>', 'text (tables), json or yaml, for scripts').choices(['text', 'json', 'yaml']).default('text');
}

/** Prints a result: the text rendering by default, or the value itself as JSON or YAML. */
export function print(format: Format, value: unknown, text: () => string): void {
  if (format === 'json') process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(stringify(value));
  else process.stdout.write(text());
}

/** A plain aligned table; an empty one says so. */
export function table(headers: string[], rows: (string | number | undefined)[][], empty = '(none)'): string {
  if (rows.length === 0) return empty + '\n';
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c ?? '')))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n') + '\n';
}

/** Labels as people write them: `env=prod, team=db` (empty when there are none). */
export function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** A filter from `key=value` arguments (`postern ls env=prod`): a resource must carry every one. */
export function withLabels(args: readonly string[]): (resource: { labels: Record<string, string> }) => boolean {
  const wanted = args.map((a) => a.split('=', 2) as [string, string | undefined]);
  return (resource) => wanted.every(([k, v]) => resource.labels[k] === v);
}
