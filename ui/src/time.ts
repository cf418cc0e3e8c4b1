/** "14:03" today, or "Tue 4 Nov, 14:03" on another day, in the browser's locale and time zone. */
export function formatWhen(when: Date, now = new Date()): string {
  const sameDay = when.toDateString() === now.toDateString();
  return sameDay
    ? when.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : when.toLocaleString(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

/** "in 11 h 59 min", "in 3 min", "in less than a minute", or "already" for a time past. */
export function formatIn(when: Date, now = new Date()): string {
  const ms = when.getTime() - now.getTime();
  if (ms <= 0) return 'already';
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'in less than a minute';
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  const parts = [days && `${days} d`, hours && `${hours} h`, !days && mins && `${mins} min`].filter(Boolean);
  return `in ${parts.join(' ')}`;
}
