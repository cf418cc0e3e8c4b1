export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export interface Row {
  scenario: string;
  figure: string;
  baseline: string;
  ratio: number;
  target?: string;
  pass?: boolean;
}

export function printTable(rows: Row[]): void {
  const head = ['scenario', 'figure', 'baseline', 'ratio', 'target'];
  const cells = rows.map((r) => [r.scenario, r.figure, r.baseline, Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : '', r.target ? `${r.target} ${r.pass ? 'ok' : 'MISSED'}` : '']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i]!)).join('  ');
  process.stdout.write(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${cells.map(line).join('\n')}\n`);
}
