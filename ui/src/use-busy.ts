import { useState } from 'react';
import type { ApiError } from './api';
import { asApiError } from './errors';

/** One action at a time (a button, a form): busy while it runs, and its error once it failed. */
export function useBusy(): { busy: boolean; error: ApiError | undefined; run: (task: () => Promise<unknown>) => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  return {
    busy,
    error,
    run: (task) => {
      if (busy) return;
      setBusy(true);
      setError(undefined);
      task().then(
        () => setBusy(false),
        (err: unknown) => {
          setError(asApiError(err));
          setBusy(false);
        },
      );
    },
  };
}
