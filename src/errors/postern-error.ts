import { ERROR_CODES, type ErrorCode } from './codes.js';

/** The one error class. `message` says what happened and what to do next. */
export class PosternError extends Error {
  override readonly name = 'PosternError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  /** The wire form: `{"error": {"code", "message", "request_id"}}`. */
  toJSON(requestId?: string): { error: { code: ErrorCode; message: string; request_id?: string } } {
    return { error: { code: this.code, message: this.message, ...(requestId ? { request_id: requestId } : {}) } };
  }

  /** Rebuilds the typed error from its wire form; unknown shapes become INTERNAL. */
  static fromJSON(body: unknown): PosternError {
    const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof err?.code === 'string' && err.code in ERROR_CODES ? (err.code as ErrorCode) : 'INTERNAL';
    const message = typeof err?.message === 'string' ? err.message : 'the server answered with an unreadable error';
    return new PosternError(code, message);
  }
}

export function isPosternError(err: unknown, code?: ErrorCode): err is PosternError {
  return err instanceof PosternError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a PosternError, keeping PosternErrors as they are. */
export function toPosternError(err: unknown): PosternError {
  if (err instanceof PosternError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PosternError('INTERNAL', message, { cause: err });
}
