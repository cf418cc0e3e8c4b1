import type { ResourceKindSpec } from './kind.js';

/**
 * Kubernetes clusters. Roles can already name them (kube_labels, kube_groups); no agent serves
 * one yet, so the row has no agent part and the proxy refuses the protocol with a clear alert.
 */
export const KUBE = {
  kind: 'kube',
  noun: 'Kubernetes cluster',
  plural: 'kube_clusters',
  labelField: 'kube_labels',
  roleLists: [{ field: 'kube_groups', example: '[viewers, "{{internal.kube_groups}}"]' }],
  admin: true,
  ctl: { definedIn: 'not served by this version of Postern yet' },
} as const satisfies ResourceKindSpec<'kube'>;
