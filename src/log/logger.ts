/**
 * Structured logs: one JSON object per line, or an aligned human line when writing to a terminal.
 * One root logger; components and connections take child loggers that add their own fields.
 * Fields whose names look secret (keys, tokens, passwords, cookies) are redacted wherever they sit.
 * Long strings and lists are clipped: many values come from clients (a path, a user name, the
 * ALPN names of a ClientHello), and one request must not be able to write megabytes of log.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'text';
export type LogFields = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Field names that hold secrets: passwords, tokens, cookies, keys (`key`, `key_pem`, `privateKey`, `apiKey`). */
const SECRET_WORDS = /pass(word|phrase)?|secret|token|private|cookie|authorization|otp|(^|[_-])key([_-]?pem)?$/i;
const SECRET_CAMEL = /[a-z]Key(Pem)?$/;
export const REDACTED = '[redacted]';

/** Whether a field's name says its value is a secret (a password, token, key, cookie…). */
export function isSecretName(name: string): boolean {
  return SECRET_WORDS.test(name) || SECRET_CAMEL.test(name);
}
/** Longest string (message or field) and list a log line keeps; the rest is counted, not written. */
export const MAX_LOGGED_STRING = 2048;
export const MAX_LOGGED_ITEMS = 64;

export interface LogSink {
  write(line: string): void;
}

export class Logger {
  private readonly min: number;

  constructor(
    private readonly opts: { level: LogLevel; format: LogFormat; sink: LogSink },
    private readonly bindings: LogFields = {},
  ) {
    this.min = LEVELS[opts.level];
  }

  child(bindings: LogFields): Logger {
    return new Logger(this.opts, { ...this.bindings, ...bindings });
  }

  isEnabled(level: LogLevel): boolean {
    return LEVELS[level] >= this.min;
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  private log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVELS[level] < this.min) return;
    const record = scrub({ ...this.bindings, ...fields }, true) as LogFields;
    const time = new Date().toISOString();
    const text = clipString(msg);
    this.opts.sink.write(this.opts.format === 'json' ? jsonLine(time, level, text, record) : textLine(time, level, text, record));
  }
}

function jsonLine(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  return JSON.stringify({ time, level, msg, ...fields }, errorReplacer) + '\n';
}

function textLine(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  const { component, ...rest } = fields;
  const tail = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v, errorReplacer)}`)
    .join(' ');
  const who = component ? `[${String(component)}] ` : '';
  return `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${who}${msg}${tail ? '  ' + tail : ''}\n`;
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code ? { message: value.message, code } : { message: value.message };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Copies `value`, replacing every field with a secret-looking name. Depth-limited against cycles. */
export function redact(value: unknown): unknown {
  return scrub(value, false);
}

/**
 * The one walk behind redact() and log lines: secret-looking fields replaced and, for logs
 * (`clip`), strings cut to MAX_LOGGED_STRING characters and lists to MAX_LOGGED_ITEMS, each
 * saying how much was left out.
 */
function scrub(value: unknown, clip: boolean, depth = 0): unknown {
  if (clip && typeof value === 'string') return clipString(value);
  if (depth > 6 || value === null || typeof value !== 'object' || value instanceof Error) return value;
  if (Array.isArray(value)) {
    const kept = (clip ? value.slice(0, MAX_LOGGED_ITEMS) : value).map((v) => scrub(v, clip, depth + 1));
    return clip && value.length > MAX_LOGGED_ITEMS ? [...kept, `… (${value.length - MAX_LOGGED_ITEMS} more)`] : kept;
  }
  const out: LogFields = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretName(k) ? REDACTED : scrub(v, clip, depth + 1);
  return out;
}

function clipString(value: string): string {
  return value.length > MAX_LOGGED_STRING ? `${value.slice(0, MAX_LOGGED_STRING)}… (${value.length - MAX_LOGGED_STRING} more characters)` : value;
}

/** The process logger: JSON unless the format is `text`, or `auto` and stderr is a terminal. */
export function createLogger(level: LogLevel = 'info', format: LogFormat | 'auto' = 'auto', sink: LogSink = process.stderr): Logger {
  const resolved: LogFormat = format === 'auto' ? (process.stderr.isTTY ? 'text' : 'json') : format;
  return new Logger({ level, format: resolved, sink });
}

/** A logger that drops everything, for benchmarks and library use. */
export const silentLogger = new Logger({ level: 'error', format: 'json', sink: { write() {} } });
