/** The commented sample that `postern configure` prints. config.test.ts checks that it loads. */
export function sampleConfig(): string {
  return `# postern.yaml: configuration for \`postern start\`.
# Every key is optional; the values shown are the defaults unless marked "example".
# Paths are relative to this file. Flags (postern start --help) override the file.
version: v1

# The cluster's name, fixed when the data directory is first created.
# Default: the host part of proxy.public_addr.
# cluster_name: postern.localhost

# Where the embedded SQLite store, certificate authorities and state live (created 0700).
data_dir: ./postern-data

# Diagnostics: /healthz, /readyz and /metrics (Prometheus) over plain HTTP. Off unless set.
# Keep it on loopback or a private network.
# diag_addr: 127.0.0.1:3000

log:
  level: info        # debug | info | warn | error
  format: auto       # auto (text on a terminal, JSON otherwise) | json | text

auth:
  # The second factor at login: otp (a TOTP app such as Google Authenticator) or off.
  second_factor: otp
  # How long a certificate from \`postern login\` lives unless the user asks for less;
  # roles can cap it lower with options.max_session_ttl.
  cert_ttl: 12h

storage:
  type: sqlite       # the embedded store in data_dir

proxy:
  # The one TLS port: web UI and API, apps, tunnels and every other protocol (routed by SNI/ALPN).
  listen_addr: 0.0.0.0:3080
  # The address users and agents reach the proxy at. Its host and *.host name the apps.
  public_addr: postern.localhost:3080
  # Certificates to serve instead of the one Postern issues from its host CA (example):
  # certificates:
  #   - cert_file: /etc/postern/tls.crt
  #     key_file: /etc/postern/tls.key
  certificates: []
  # true behind an L4 load balancer that sends PROXY protocol v1/v2 headers (nginx stream
  # "proxy_protocol on", HAProxy "send-proxy"). Every connection must then carry one.
  use_proxy_protocol: false
  # A client must finish the PROXY header and TLS handshake within this time.
  handshake_timeout: 10s
  # Connections open at once; further ones are refused until some close.
  max_connections: 10000
`;
}
