import { InvalidArgumentError } from 'commander';
import { formatDuration, parseDuration } from '../config/duration.js';

/** A commander argument parser for durations like 30m, 8h, 1h30m. */
export function durationArg(min: number, max: number) {
  return (value: string): number => {
    const ms = parseDuration(value);
    if (ms === undefined) throw new InvalidArgumentError(`"${value}" is not a duration; write a number with a unit, like 30m or 8h`);
    if (ms < min || ms > max) throw new InvalidArgumentError(`use between ${formatDuration(min)} and ${formatDuration(max)}`);
    return ms;
  };
}

/** `a,b,c` → ['a', 'b', 'c'] (empty items dropped). */
export function listArg(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** `k=v,k2=v2` → { k: 'v', k2: 'v2' }. */
export function labelsArg(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of listArg(value)) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`"${pair}" is not key=value`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

/** How long until a time, for people: "valid for 11h59m", "expired 3m ago". */
export function untilText(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  return ms > 0 ? `valid for ${humanDuration(ms)}` : `expired ${humanDuration(-ms)} ago`;
}

/** The two largest units of a duration, to the minute: "2d4h", "11h59m", "3m"; under a minute "<1m". */
export function humanDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return '<1m';
  const parts = [[Math.floor(minutes / 1440), 'd'], [Math.floor(minutes / 60) % 24, 'h'], [minutes % 60, 'm']] as const;
  const first = parts.findIndex(([n]) => n > 0);
  return parts.slice(first, first + 2).filter(([n]) => n > 0).map(([n, u]) => `${n}${u}`).join('');
}
