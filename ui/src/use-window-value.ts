import { useEffect, useState } from 'react';

/** A value read from the window, read again whenever one of `events` fires on it (keep `read` and `events` stable). */
export function useWindowValue<T>(read: () => T, events: readonly string[]): T {
  const [value, setValue] = useState(read);
  useEffect(() => {
    const update = () => setValue(read);
    for (const event of events) window.addEventListener(event, update);
    return () => {
      for (const event of events) window.removeEventListener(event, update);
    };
  }, [read, events]);
  return value;
}
