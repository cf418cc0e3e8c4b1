import { useEffect, useState } from 'react';

/**
 * A command to run on one's own machine (or another value to copy: an invite link, a token),
 * with a button that copies it. `intro` says what it is; null leaves it to the surrounding text.
 */
export function CopyCommand({ command, what, testId, intro = 'Connect from your machine with:' }: { command: string; what: string; testId: string; intro?: string | null }) {
  const [copied, setCopied] = useState<'yes' | 'no'>();
  useEffect(() => {
    if (!copied) return;
    const t = setTimeout(() => setCopied(undefined), 2500);
    return () => clearTimeout(t);
  }, [copied]);
  return (
    <div className="tcp-command">
      {intro !== null && <p className="hint">{intro}</p>}
      <div className="command-row">
        <code className="command" data-testid={testId}>
          {command}
        </code>
        <button
          type="button"
          className="button subtle small"
          aria-label={`Copy the command for ${what}`}
          onClick={() => {
            // The clipboard API exists only in secure contexts, which the proxy always is.
            if (!('clipboard' in navigator)) return setCopied('no');
            navigator.clipboard.writeText(command).then(
              () => setCopied('yes'),
              () => setCopied('no'),
            );
          }}
        >
          Copy
        </button>
      </div>
      <p className="hint copy-status" role="status">
        {copied === 'yes' ? 'Copied.' : copied === 'no' ? 'Could not copy; select the command instead.' : ''}
      </p>
    </div>
  );
}
