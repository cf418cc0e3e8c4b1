import { ApiError } from './api';

/** Any thrown value as an ApiError (a bug in the UI shows as one too, rather than a blank page). */
export function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 'UNEXPECTED', err instanceof Error ? err.message : String(err));
}

/** An API error as a person reads it: the server's message first, its code and request ID small. */
export function ErrorBox({ error, title }: { error: ApiError; title?: string }) {
  return (
    <div className="error" role="alert">
      {title && <p className="error-title">{title}</p>}
      <p className="error-message">{sentence(error.message)}</p>
      {error.status > 0 && (
        <p className="error-meta">
          {error.code}
          {error.requestId && <> · request {error.requestId}</>}
        </p>
      )}
    </div>
  );
}

/** The server's messages are lower-case clauses ("login refused: wrong …"); show them as a sentence. */
function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const capital = t[0]!.toUpperCase() + t.slice(1);
  return /[.!?)`]$/.test(capital) ? capital : `${capital}.`;
}
