import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, api, type WhoAmI } from './api';
import { safeNext } from './nav';
import { ErrorBox, asApiError } from './errors';

const TITLES: Record<string, string> = {
  LOGIN_FAILED: 'Sign-in failed',
  OTP_REUSED: 'That code was used already',
  RATE_LIMITED: 'Too many attempts',
  LOCKED: 'Your access is locked',
};

/**
 * The login form: user name, password and, when the cluster asks for a second factor, the
 * one-time code from the person's authenticator app. After signing in it goes to `?next=` when
 * that is a path under /web/ on this origin (a full page load: /web/launch/… is a server route),
 * and otherwise hands over to the application list.
 */
export function Login({ cluster, notice, onSignedIn }: { cluster?: string | undefined; notice?: string; onSignedIn: (me: WhoAmI) => void }) {
  // undefined while asking; when the settings cannot be read, offer the code field (optional).
  const [secondFactor, setSecondFactor] = useState<'otp' | 'off' | 'unknown'>();
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const userInput = useRef<HTMLInputElement>(null);
  const passwordInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    let live = true;
    api.authSettings().then(
      (s) => live && setSecondFactor(s.second_factor === 'off' ? 'off' : 'otp'),
      () => live && setSecondFactor('unknown'),
    );
    return () => {
      live = false;
    };
  }, []);

  useEffect(() => {
    if (secondFactor) userInput.current?.focus();
  }, [secondFactor]);

  const askCode = secondFactor === 'otp' || secondFactor === 'unknown';

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      const me = await api.signIn(user.trim(), password, askCode ? otp.replace(/\s+/g, '') : undefined);
      const next = safeNext();
      if (next) {
        window.location.assign(next); // keep "Signing in…" showing while the next page loads
        return;
      }
      onSignedIn(me);
    } catch (err) {
      const e = asApiError(err);
      setError(e);
      setBusy(false);
      setOtp(''); // a code works once; a new one is needed either way
      if (e.code === 'LOGIN_FAILED') {
        passwordInput.current?.focus();
        passwordInput.current?.select();
      }
    }
  }

  return (
    <section className="panel narrow login" aria-labelledby="login-title">
      <h1 id="login-title">Sign in{cluster ? <span className="login-cluster"> to {cluster}</span> : null}</h1>
      {notice && !error && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {error && <ErrorBox error={error} title={TITLES[error.code] ?? 'Sign-in failed'} />}
      {secondFactor === undefined ? (
        <p className="status-line" role="status">
          Loading…
        </p>
      ) : (
        <form onSubmit={(e) => void submit(e)}>
          <div className="field">
            <label htmlFor="login-user">User name</label>
            <input
              id="login-user"
              ref={userInput}
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              autoCorrect="off"
              spellCheck={false}
              required
              value={user}
              onChange={(e) => setUser(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="login-password">Password</label>
            <input
              id="login-password"
              ref={passwordInput}
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
          {askCode && (
            <div className="field">
              <label htmlFor="login-otp">One-time code</label>
              <input
                id="login-otp"
                name="otp"
                inputMode="numeric"
                autoComplete="one-time-code"
                pattern="[0-9 ]{6,7}"
                maxLength={7}
                required={secondFactor === 'otp'}
                aria-describedby="login-otp-help"
                value={otp}
                onChange={(e) => setOtp(e.target.value)}
              />
              <p className="hint" id="login-otp-help">
                The 6-digit code your authenticator app shows for Postern.
              </p>
            </div>
          )}
          <button type="submit" className="button primary wide" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
          <p className="hint" id="login-help">
            No account yet? An administrator sends you an invite link. Forgot your password or lost your authenticator? Ask them to reset your account.
          </p>
        </form>
      )}
    </section>
  );
}
