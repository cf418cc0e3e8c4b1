/** The commented sample that `postern configure` prints. config.test.ts checks that it loads. */
export function sampleConfig(): string {
  return `# postern.yaml: configuration for \`postern start\`.
# Every key is optional; the values shown are the defaults unless marked "example".
# Paths are relative to this file. Flags (postern start --help) override the file.
version: v1

# What this process runs: auth and proxy (the cluster), agent, or all three.
# Default: auth and proxy, plus agent when the agent section below is present.
# roles: [auth, proxy]

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
  # How long agents' host certificates live; agents renew them at two thirds of that.
  host_cert_ttl: 7d
  # Join tokens that do not expire, for agents started by automation, as ROLES:VALUE
  # (roles from app, ssh, db). Prefer single-use tokens: postern ctl tokens add --type=app
  # tokens: ["app,ssh:a-long-random-value-from-openssl-rand-hex-24"]
  tokens: []

storage:
  type: sqlite       # the embedded store in data_dir; postgres for several proxies on one database
  # With type: postgres, one of (docs/high-availability.md):
  # conn_string: postgres://postern@db.internal:5432/postern?sslmode=verify-full
  # conn_string_file: /etc/postern/pg-url   # the URL in a file, to keep a password out of this one

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
  # Or a certificate from Let's Encrypt or another ACME CA, got and renewed by the proxy itself.
  # The CA validates with TLS-ALPN-01 on this one port: public_addr's host must be a DNS name that
  # leads here on port 443; so must each app's name, whose own certificate is ordered the first
  # time a browser opens the app. Not with certificates above (example):
  # acme:
  #   email: ops@example.com
  #   directory_url: https://acme-v02.api.letsencrypt.org/directory
  #   ca_file: /etc/postern/acme-ca.pem   # the ACME server's own CA, for a private one only
  #   renew_before: 30d                   # renew when this much of its life is left
  # true behind an L4 load balancer that sends PROXY protocol v1/v2 headers (nginx stream
  # "proxy_protocol on", HAProxy "send-proxy"). Every connection must then carry one.
  use_proxy_protocol: false
  # A client must finish the PROXY header and TLS handshake within this time.
  handshake_timeout: 10s
  # Connections open at once; further ones are refused until some close.
  max_connections: 10000
  # Connections at once from one client address that have not signed in (a client certificate,
  # a browser session): one client holding idle connections cannot take them all. Signed-in
  # connections (agents, CLI tunnels, browsers with a session) do not count.
  # Default: 200, or max_connections / 4 when that is less.
  # max_connections_per_ip: 200
  # A web connection nobody has signed in on is closed after this long without traffic
  # (signed-in ones after two minutes).
  unauthenticated_idle_timeout: 20s
  # Every statement of every database session in the audit log (false: only sessions).
  db_query_audit: true
  # TCP routes: a TCP service behind this one port, reached with \`postern tcp\` (HTTP CONNECT
  # HOST:PORT); docs/tcp-routes.md. A route with a policy is decided by it and the roles' denies;
  # one without by the roles' route_labels (example):
  # routes:
  #   - from: tcp+https://ssh.example.com:22      # what clients ask for
  #     to: tcp://10.0.0.5:22                     # reached from the proxy
  #     policy:
  #       - allow:
  #           and:
  #             - authenticated_user: true
  #             - email: { ends_with: "@example.com" }
  #   - from: tcp+https://redis.example.com:6379
  #     app: redis                                # or a TCP app behind an agent
  #     labels: { env: dev }
  routes: []
  # SSH nodes the proxy reaches itself, with no agent (example):
  # ssh_nodes:
  #   - { name: db-1, addr: "10.0.0.7:22", labels: { env: prod } }


# An agent: runs inside a private network, dials out to the proxy (no inbound port needed) and
# serves the resources below. Uncomment to run one (with roles: [agent] on a separate machine).
# agent:
#   proxy: postern.example.com:443
#   token: …                      # from postern ctl tokens add; needed on the first start only
#   ca_pin: sha256:…              # from postern ctl status; checked before joining
#   name: edge-1                  # default: the host name
#   apps:
#     - name: grafana             # reached at https://grafana.<proxy host>
#       uri: http://localhost:3000
#       labels: { env: dev }
#     - name: redis               # a TCP app
#       uri: tcp://localhost:6379
#     - name: wiki                # an https app with a self-signed certificate
#       uri: https://localhost:8443
#       insecure_skip_verify: true  # still encrypted, but the app is not authenticated
#   ssh:
#     - name: web-1
#       addr: 127.0.0.1:22
#       labels: { env: prod }
#   databases:
#     - name: pg
#       protocol: postgres
#       uri: 127.0.0.1:5432
#       labels: { env: dev }
`;
}
