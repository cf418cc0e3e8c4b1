/** A resource's labels as `key=value` chips, sorted by key; nothing when there are none. */
export function Labels({ labels }: { labels: Record<string, string> }) {
  const sorted = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  if (sorted.length === 0) return null;
  return (
    <ul className="labels" aria-label="Labels">
      {sorted.map(([k, v]) => (
        <li key={k} className="label">
          {k}={v}
        </li>
      ))}
    </ul>
  );
}
