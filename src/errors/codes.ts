/**
 * The one table of error codes. Every PosternError carries one of these codes; the code decides
 * the HTTP status on the wire and the exit code of the CLI. docs/errors.md lists the same table,
 * and errors.test.ts keeps the two in step.
 *
 * Exit codes follow sysexits(3) where one fits, so scripts can tell a usage mistake (64) from a
 * bad config (78) from an unreachable service (69).
 */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, exit: 64, summary: 'The request or command line is malformed.' },
  USAGE: { status: 400, exit: 64, summary: 'A flag or argument is missing or wrong.' },
  TOO_LARGE: { status: 413, exit: 64, summary: 'The request body is larger than the endpoint accepts; the message gives the limit.' },
  CONFIG_INVALID: { status: 500, exit: 78, summary: 'The configuration file or a flag has an invalid value.' },
  CONFIG_NOT_FOUND: { status: 500, exit: 66, summary: 'The configuration file named with --config does not exist.' },
  CLUSTER_MISMATCH: { status: 500, exit: 78, summary: 'The data directory belongs to a cluster with another name.' },
  CERT_INVALID: { status: 500, exit: 78, summary: 'A configured certificate or key cannot be used.' },
  NOT_INITIALIZED: { status: 503, exit: 69, summary: 'The data directory holds no cluster yet.' },
  STORAGE_UNAVAILABLE: { status: 503, exit: 74, summary: 'The storage backend cannot be opened or written.' },
  LISTEN_FAILED: { status: 500, exit: 69, summary: 'A listener could not bind its address.' },
  UNAUTHENTICATED: { status: 401, exit: 77, summary: 'The request carries no valid identity: log in (postern login) or send a valid certificate or session.' },
  LOGIN_FAILED: { status: 401, exit: 77, summary: 'The user name, password or one-time code is wrong.' },
  OTP_REQUIRED: { status: 401, exit: 77, summary: 'The cluster asks for a one-time code with the password; nothing was checked yet (pass --otp CODE).' },
  OTP_REUSED: { status: 401, exit: 77, summary: 'The password was right but the one-time code was used already (each code works once); wait for the next code and log in with it.' },
  CERT_EXPIRED: { status: 401, exit: 77, summary: 'The certificate has expired; run postern login again.' },
  ACCESS_DENIED: { status: 403, exit: 77, summary: 'The identity is valid but no role allows this; the message gives the reasons.' },
  LOCKED: { status: 403, exit: 77, summary: 'The user or one of its roles is locked by an administrator.' },
  MFA_REQUIRED: { status: 403, exit: 77, summary: 'A role of the user sets require_mfa, and this version cannot ask for a second factor per session yet; an administrator can remove the option.' },
  RATE_LIMITED: { status: 429, exit: 75, summary: 'Too many attempts; wait as long as the message says and try again.' },
  UNTRUSTED_CLUSTER: { status: 400, exit: 77, summary: 'The proxy could not be verified: its CA does not match the pin or CA file, or none was given.' },
  ORIGIN_REFUSED: { status: 403, exit: 77, summary: "A request to Postern Connect's daemon came from another page or by another address than its own; only its own page may call it." },
  ROUTE_NOT_FOUND: { status: 404, exit: 69, summary: 'No TCP route matches the CONNECT authority (host and port); the message names what was asked for and the routes for that host.' },
  JOIN_REFUSED: { status: 403, exit: 77, summary: 'An agent could not join: the token is unknown, expired, used, or does not allow what the agent serves.' },
  AGENT_DIR_IN_USE: { status: 409, exit: 75, summary: "Another agent process holds this agent's state directory (its lock file); stop it, or give this agent its own --data-dir or --agent-name." },
  AGENT_OFFLINE: { status: 503, exit: 69, summary: 'No agent that serves the resource is connected now.' },
  TARGET_UNREACHABLE: { status: 502, exit: 69, summary: 'The agent could not reach the resource it serves, or refused to serve it.' },
  PROXY_UNREACHABLE: { status: 502, exit: 69, summary: 'The proxy could not be reached or answered in an unexpected way.' },
  ACME_FAILED: { status: 502, exit: 69, summary: 'The ACME server (proxy.acme) could not be reached, or refused an account, order, challenge or certificate; the message gives its reason.' },
  TUNNEL_CLOSED: { status: 502, exit: 69, summary: 'The proxy ended an open tunnel abruptly: a lock, a role change or an expired certificate took the access away, or the proxy stopped.' },
  NOT_FOUND: { status: 404, exit: 1, summary: 'The requested thing does not exist.' },
  ALREADY_EXISTS: { status: 409, exit: 1, summary: 'The thing to create exists already.' },
  COMPARE_FAILED: { status: 409, exit: 1, summary: 'A compare-and-swap lost: the item changed since it was read.' },
  WATCH_CLOSED: { status: 500, exit: 1, summary: 'A storage watch was closed, by its owner or because it fell behind.' },
  NOT_IMPLEMENTED: { status: 501, exit: 69, summary: 'The feature is not built in this version yet.' },
  INTERNAL: { status: 500, exit: 70, summary: 'An unexpected internal error; the logs have details.' },
} as const satisfies Record<string, { status: number; exit: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
