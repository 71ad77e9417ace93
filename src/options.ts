// Command-line flags and environment of the operator. Pure: parse, validate, explain.
import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { DEFAULT_OPERATOR_NAMESPACE } from './api/types.js';

export interface OperatorOptions {
  kubeconfig?: string;
  /** Watch one namespace only; undefined = all namespaces. */
  namespace?: string;
  logLevel: LevelWithSilent;
  metricsAddr: string;
  healthAddr: string;
  leaderElect: boolean;
  /** Namespace of the leader-election Lease. */
  leaderNamespace: string;
  workers: number;
  /** Seconds without a node Lease renewal before its cells are dead; undefined = 0.75 × lease duration. */
  nodeLossAfter?: number;
  /** Silent share of the nodes hosting cells above which silence is a control-plane fault. */
  massDisruptionFraction: number;
  /** Fewest nodes hosting cells for the share to be judged. */
  massDisruptionMinNodes: number;
  /**
   * The nodeLeaseDurationSeconds the hardening step writes into a hardened node's kubelet config
   * (hijack.sh --node-lease-seconds); undefined = leave the kubelet's own (40 s by default).
   */
  hardenedNodeLeaseSeconds?: number;
  /** Client-side write limit: sustained writes per second, and how many may go at once. */
  writeQps: number;
  writeBurst: number;
  help: boolean;
}

export const HELP = `celula-operator: reconciles Colony and Cell resources (celula.io/v1alpha1).

Usage: celula-operator [flags]

Flags (each also read from the environment variable in brackets):
  --kubeconfig PATH       kubeconfig to use [KUBECONFIG]; default: in-cluster, then ~/.kube/config
  --namespace NS          watch only this namespace [CELULA_NAMESPACE]; default: all namespaces
  --log-level LEVEL       trace|debug|info|warn|error|fatal|silent [LOG_LEVEL]; default: info
  --metrics-addr H:P      Prometheus metrics listen address, '0' to disable [CELULA_METRICS_ADDR]; default: 127.0.0.1:8080
  --health-addr H:P       /healthz and /readyz listen address, '0' to disable [CELULA_HEALTH_ADDR]; default: 127.0.0.1:8081
  --leader-elect BOOL     take a Lease before reconciling, so two replicas can run [CELULA_LEADER_ELECT]; default: true
  --leader-namespace NS   the operator's namespace: leader Lease, lock-down policies' service account,
                          hardening Jobs [POD_NAMESPACE]; default: celula-system
  --workers N             concurrent reconciles per controller [CELULA_WORKERS]; default: 4
  --node-loss-after S     seconds after a node's last Lease renewal (or after the operator began
                          observing, whichever is later) before the node is silent: its holders turn
                          Unreachable and are replaced by surge (never deleted), its cells that hold
                          nothing yet are replaced [CELULA_NODE_LOSS_AFTER]; default: 3 renew intervals
                          of the Lease (0.75 × leaseDurationSeconds: 30 s for a kubelet's 40 s Lease)
  --mass-disruption-fraction F
                          when more than this share of the nodes hosting cells is silent at once, it
                          is a control-plane fault: no holder is suspected from silence
                          [CELULA_MASS_DISRUPTION_FRACTION]; 0 < F <= 1; default: 0.5
  --mass-disruption-min-nodes N
                          judge that share only when at least N nodes host cells
                          [CELULA_MASS_DISRUPTION_MIN_NODES]; default: 3
  --hardened-node-lease-seconds S
                          the kubelet Lease duration the hardening step sets on hardened nodes; the
                          kubelet renews every S/4, the node is silent after 0.75 × S
                          [CELULA_HARDENED_NODE_LEASE_SECONDS]; 4..300, or 0 to leave the kubelet's
                          own (40 s); default: 10 (renew every 2.5 s, silent after 7.5 s)
  --write-qps Q           client-side limit on the operator's writes (applies, deletes, status patches,
                          events), per second sustained [CELULA_WRITE_QPS]; 0 < Q <= 10000; default: 50
  --write-burst N         writes allowed at once before the limit applies [CELULA_WRITE_BURST];
                          1..100000; default: 100. Waiting writes go status patches and lock-down
                          restores first, events last
  -h, --help              show this help
`;

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export class UsageError extends Error {}

function bool(name: string, v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new UsageError(`--${name}: want true or false, got "${v}"`);
}

function addr(name: string, v: string): string {
  if (v === '0' || /^[^:\s]*:\d{1,5}$/.test(v)) return v;
  throw new UsageError(`--${name}: want host:port or 0, got "${v}"`);
}

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new UsageError(`--${name}: want a whole number 1..64, got "${v}"`);
  return n;
}

/** A share in (0, 1]. */
function fraction(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1)
    throw new UsageError(`--${name}: want a fraction 0 < F <= 1, got "${v}"`);
  return n;
}

/** A node count, 1..100000. */
function nodeCount(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100_000)
    throw new UsageError(`--${name}: want a whole number 1..100000, got "${v}"`);
  return n;
}

/** Writes per second, 0 < Q <= 10000. */
function qps(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 10_000)
    throw new UsageError(`--${name}: want writes per second 0 < Q <= 10000, got "${v}"`);
  return n;
}

/** The default client-side write limit (the one write client, src/runtime/write.ts). */
export const DEFAULT_WRITE_QPS = 50;
export const DEFAULT_WRITE_BURST = 100;

/** The default hardened kubelet Lease: see docs/floor.md "Fast, honest detection". */
export const DEFAULT_HARDENED_NODE_LEASE_SECONDS = 10;

/** 4..300 seconds (hijack.sh's range), or 0 = leave the kubelet's own. */
function leaseSeconds(name: string, v: string): number | undefined {
  const n = Number(v);
  if (n === 0 && v.trim() !== '') return undefined;
  if (!Number.isInteger(n) || n < 4 || n > 300)
    throw new UsageError(`--${name}: want whole seconds 4..300, or 0 for the kubelet's own, got "${v}"`);
  return n;
}

/** Seconds, 1..3600; '' = the default (derived from each Lease). */
function seconds(name: string, v: string): number | undefined {
  if (v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 1 || n > 3600)
    throw new UsageError(`--${name}: want seconds 1..3600, got "${v}"`);
  return n;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): OperatorOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'log-level': { type: 'string' },
        'metrics-addr': { type: 'string' },
        'health-addr': { type: 'string' },
        'leader-elect': { type: 'string' },
        'leader-namespace': { type: 'string' },
        workers: { type: 'string' },
        'node-loss-after': { type: 'string' },
        'mass-disruption-fraction': { type: 'string' },
        'mass-disruption-min-nodes': { type: 'string' },
        'hardened-node-lease-seconds': { type: 'string' },
        'write-qps': { type: 'string' },
        'write-burst': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const pick = (flag: keyof typeof values, envName: string, dflt: string): string =>
    (values[flag] as string | undefined) ?? env[envName] ?? dflt;
  const level = pick('log-level', 'LOG_LEVEL', 'info');
  if (!LEVELS.includes(level))
    throw new UsageError(`--log-level: want one of ${LEVELS.join('|')}, got "${level}"`);
  return {
    kubeconfig: pick('kubeconfig', 'KUBECONFIG', '') || undefined,
    namespace: pick('namespace', 'CELULA_NAMESPACE', '') || undefined,
    logLevel: level as LevelWithSilent,
    metricsAddr: addr('metrics-addr', pick('metrics-addr', 'CELULA_METRICS_ADDR', '127.0.0.1:8080')),
    healthAddr: addr('health-addr', pick('health-addr', 'CELULA_HEALTH_ADDR', '127.0.0.1:8081')),
    leaderElect: bool('leader-elect', pick('leader-elect', 'CELULA_LEADER_ELECT', 'true')),
    leaderNamespace: pick('leader-namespace', 'POD_NAMESPACE', DEFAULT_OPERATOR_NAMESPACE),
    workers: positiveInt('workers', pick('workers', 'CELULA_WORKERS', '4')),
    nodeLossAfter: seconds('node-loss-after', pick('node-loss-after', 'CELULA_NODE_LOSS_AFTER', '')),
    massDisruptionFraction: fraction(
      'mass-disruption-fraction',
      pick('mass-disruption-fraction', 'CELULA_MASS_DISRUPTION_FRACTION', '0.5'),
    ),
    massDisruptionMinNodes: nodeCount(
      'mass-disruption-min-nodes',
      pick('mass-disruption-min-nodes', 'CELULA_MASS_DISRUPTION_MIN_NODES', '3'),
    ),
    hardenedNodeLeaseSeconds: leaseSeconds(
      'hardened-node-lease-seconds',
      pick(
        'hardened-node-lease-seconds',
        'CELULA_HARDENED_NODE_LEASE_SECONDS',
        String(DEFAULT_HARDENED_NODE_LEASE_SECONDS),
      ),
    ),
    writeQps: qps('write-qps', pick('write-qps', 'CELULA_WRITE_QPS', String(DEFAULT_WRITE_QPS))),
    writeBurst: nodeCount(
      'write-burst',
      pick('write-burst', 'CELULA_WRITE_BURST', String(DEFAULT_WRITE_BURST)),
    ),
    help: values.help === true,
  };
}
