// The cell pod: one pod incarnation of one Cell, pinned to its node. Pure: no I/O, no clock.
// Every default is the secure one (PSS restricted, read-only root filesystem, no API token but the
// audience-bound join token, Guaranteed QoS, no restarts: a restarted process has lost the secret).
import type { V1Container, V1Pod, V1Toleration, V1Volume } from '@kubernetes/client-node';
import { DEFAULT_PROGRAM_PORT, HARDENED_TAINT, JOIN_AUDIENCE, type Cell, type Colony } from '../api/types.js';
import { cellServiceAccountName } from './names.js';
import { controllerRef } from './owner.js';

export const CELL_PORT = 8443;
export const CELL_UID = 65532;
export const JOIN_TOKEN_DIR = '/var/run/secrets/celula.io/join';
export const JOIN_TOKEN_SECONDS = 3600;
/** The standard service-account mount path, so client-node's loadFromCluster finds the API credential. */
export const API_TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
export const API_TOKEN_SECONDS = 3607;
/** A Colony label copied onto its cell pods: `local` tells a test harness to run the cell process. */
export const CELL_RUNTIME_LABEL = 'celula.io/cell-runtime';
/**
 * Measured on real kubelets (the e2e tier, test/e2e/README.md): a starting cell holds ≈ 62 MiB of
 * anonymous memory and ≈ 39 MiB of file pages, so 64Mi was OOM-killed; with 100m of CPU a cell on a
 * busy node took over 30 s to start and its liveness probe killed it; 500m / 256Mi passed every run.
 * Requests equal limits (Guaranteed QoS: a holder is the last pod the kubelet evicts).
 */
export const DEFAULT_RESOURCES = { cpu: '500m', memory: '256Mi' } as const;

function tolerations(): V1Toleration[] {
  return [
    { key: HARDENED_TAINT, operator: 'Exists', effect: 'NoSchedule' },
    { key: HARDENED_TAINT, operator: 'Exists', effect: 'NoExecute' },
    // No time limit: the taint manager would delete a holder on mere suspicion (when a partition
    // heals, the pod's deletion reaches the kubelet, which kills the holder). The operator alone
    // decides when a holder's pod goes, on proof (docs/floor.md).
    ...['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'].map((key): V1Toleration => ({
      key,
      operator: 'Exists',
      effect: 'NoExecute',
    })),
  ];
}

function fieldEnv(name: string, fieldPath: string): { name: string; valueFrom: object } {
  return { name, valueFrom: { fieldRef: { fieldPath } } };
}

/** The join port, and the program's when the colony hosts one (issue 13). */
function containerPorts(colony: Colony): V1Container['ports'] {
  const ports = [{ name: 'cell', containerPort: CELL_PORT, protocol: 'TCP' }];
  const program = colony.spec.program;
  if (program === undefined) return ports;
  return [
    ...ports,
    { name: 'program', containerPort: program.port ?? DEFAULT_PROGRAM_PORT, protocol: 'TCP' },
  ];
}

function container(colony: Colony, cell: Cell): V1Container {
  const res = { ...DEFAULT_RESOURCES, ...colony.spec.resources };
  const quantities = { cpu: res.cpu, memory: res.memory };
  return {
    name: 'cell',
    image: colony.spec.image,
    imagePullPolicy: 'IfNotPresent',
    args: colony.spec.args,
    ports: containerPorts(colony),
    env: [
      { name: 'CELULA_COLONY', value: colony.metadata.name },
      { name: 'CELULA_COLONY_UID', value: colony.metadata.uid },
      { name: 'CELULA_CELL', value: cell.metadata.name },
      { name: 'CELULA_ALGORITHM', value: colony.spec.secret.algorithm },
      { name: 'CELULA_GENESIS', value: String(cell.spec.genesis) },
      { name: 'CELULA_PORT', value: String(CELL_PORT) },
      { name: 'CELULA_JOIN_TOKEN', value: `${JOIN_TOKEN_DIR}/token` },
      fieldEnv('POD_NAME', 'metadata.name'),
      fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
      fieldEnv('POD_UID', 'metadata.uid'),
      fieldEnv('NODE_NAME', 'spec.nodeName'),
      // A joiner binds its join connections to its pod IP: peers accept joins only from it.
      fieldEnv('POD_IP', 'status.podIP'),
    ] as V1Container['env'],
    resources: { requests: quantities, limits: quantities },
    // Readiness only: it is answered on the cell's one event loop, which a busy program shares, so
    // its timeout leaves room for a slow moment. No liveness probe: a kubelet's liveness kill is death
    // on suspicion (restartPolicy Never: the holder's copy is gone), and one input that hangs the
    // program could stall every holder at once. A wedged holder stays a suspect (Unreachable
    // NotReady): the operator surges a replacement at once and never retires a suspect; heard
    // again, it is surplus like any holder (docs/floor.md).
    readinessProbe: {
      httpGet: { path: '/readyz', port: CELL_PORT },
      periodSeconds: 2,
      timeoutSeconds: 3,
      failureThreshold: 1,
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: 'join-token', mountPath: JOIN_TOKEN_DIR, readOnly: true },
      { name: 'kube-api-access', mountPath: API_TOKEN_DIR, readOnly: true },
    ],
  };
}

/**
 * The cell's own API credential: a default-audience token (valid only at the API server, which does
 * not accept the celula.io/join audience), the cluster CA and the namespace — what the kubelet's
 * automount would give, spelled out because automountServiceAccountToken is false. It is never sent
 * to a peer; the join token (separate volume, audience celula.io/join) is never an API credential.
 */
function apiAccessVolume(): V1Volume {
  return {
    name: 'kube-api-access',
    projected: {
      sources: [
        { serviceAccountToken: { expirationSeconds: API_TOKEN_SECONDS, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
          },
        },
      ],
    },
  };
}

function podLabels(colony: Colony, cell: Cell): Record<string, string> {
  const runtime = colony.metadata.labels?.[CELL_RUNTIME_LABEL];
  return { ...cell.metadata.labels, ...(runtime === undefined ? {} : { [CELL_RUNTIME_LABEL]: runtime }) };
}

export function buildCellPod(colony: Colony, cell: Cell): V1Pod {
  const colonyName = colony.metadata.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: cell.metadata.name,
      namespace: cell.metadata.namespace,
      labels: podLabels(colony, cell),
      ownerReferences: [controllerRef(cell)],
    },
    spec: {
      nodeName: cell.spec.node,
      restartPolicy: 'Never',
      serviceAccountName: cellServiceAccountName(colonyName),
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 5,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: CELL_UID,
        runAsGroup: CELL_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      tolerations: tolerations(),
      containers: [container(colony, cell)],
      volumes: [
        {
          name: 'join-token',
          projected: {
            sources: [
              {
                serviceAccountToken: {
                  audience: JOIN_AUDIENCE,
                  expirationSeconds: JOIN_TOKEN_SECONDS,
                  path: 'token',
                },
              },
            ],
          },
        },
        apiAccessVolume(),
      ],
    },
  };
}
