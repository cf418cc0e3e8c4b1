/**
 * The example role of docs/roles.md (without its description), as a user writes it: tests of the
 * parser, the access checker and `ctl create` all start from the same text.
 */
export const DEV_ACCESS_SPEC = `options: { max_session_ttl: 8h }
allow:
  logins: ["{{internal.logins}}", root]
  node_labels: { env: dev }
  app_labels: { env: [dev, staging], team: "^(web|api)$" }
deny:
  app_labels: { team: finance }
`;

export const DEV_ACCESS_YAML = `kind: role
version: v1
metadata: { name: dev-access }
spec:
${DEV_ACCESS_SPEC.replace(/^(?=.)/gm, '  ')}`;
