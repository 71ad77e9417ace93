// Node hardening (docs/operations.md "Node hardening"): the ConfigMap that carries
// hijack.sh, the one-shot privileged Job that runs it on one node, the compact report its container
// leaves as the termination message, and the node patches that record the outcome. Pure: no I/O,
// no clock (times come in as arguments), names derived from the node and the script digest.
import { createHash } from 'node:crypto';
import type { V1ConfigMap, V1Container, V1Job, V1Node, V1Taint } from '@kubernetes/client-node';
import { HARDENED_TAINT, LABELS, MANAGER, type Colony } from '../api/types.js';
import { managedLabels } from './labels.js';
import { MAX_LABEL_VALUE } from './names.js';
import { CELL_RUNTIME_LABEL } from './pod.js';

/** Marks the hardening Job, its pod and the script ConfigMap (with the managed-by label). */
export const COMPONENT_LABEL = 'celula.io/component';
export const HARDENING_COMPONENT = 'hardening';
/** On the Job: the node it hardens, the script digest it runs, and the colony that asked for it. */
export const HARDENING_ANNOTATIONS = {
  node: 'celula.io/hardening-node',
  sha256: 'celula.io/hijack-sha256',
  requestedBy: 'celula.io/requested-by',
} as const;
/**
 * On a node whose hardening failed: why (short), when (it is not retried before the backoff), and
 * the uid of the Job that failed (its record: the Job is deleted only once the cache shows this).
 */
export const FAILED_ANNOTATIONS = {
  reason: 'celula.io/hardening-failed',
  at: 'celula.io/hardening-failed-at',
  job: 'celula.io/hardening-job',
} as const;
export const HARDENED_TAINT_VALUE = 'true';
export const HIJACK_KEY = 'hijack.sh';
export const SCRIPT_DIR = '/opt/celula/hijack';
/** Where the Job copies the script on the host (tmpfs: gone at the next boot). */
export const HOST_SCRIPT_DIR = '/run/celula';
/** The Job gives up after this; the operator then records a failure. */
export const HARDENING_DEADLINE_SECONDS = 600;
/** Room for the hijack.sh dependencies plus nsenter: bash, coreutils, sed, util-linux. Pin by digest in production. */
export const DEFAULT_HARDENING_IMAGE = 'docker.io/library/debian:bookworm-slim';
const MAX_REASON = 240;

export interface HijackScript {
  content: string;
  /** sha256 of the content, hex: the script's own digest (hijack.sh reports the same). */
  sha256: string;
}

export function hijackScript(content: string): HijackScript {
  return { content, sha256: createHash('sha256').update(content).digest('hex') };
}

/** Hex digits of the script digest kept in the hardened label's value. */
export const DIGEST_PREFIX_LENGTH = 12;
const DIGEST_PREFIX = new RegExp(`^[0-9a-f]{${DIGEST_PREFIX_LENGTH}}$`);

/** The hardened label's value: the first 12 hex of the script digest (a label value, ≤ 63). */
export function digestPrefix(sha256: string): string {
  return sha256.slice(0, DIGEST_PREFIX_LENGTH);
}

/**
 * The one meaning of "hardened" for a node's label value: exactly what digestPrefix writes (12
 * lowercase hex). Absent, empty, "true", "false" or anything else is not hardened, so a label set
 * by hand or by a tool that does not run hijack.sh never counts.
 */
export function isHardenedLabelValue(value: string | undefined): boolean {
  return value !== undefined && DIGEST_PREFIX.test(value);
}

export function hardeningLabels(): Record<string, string> {
  return { ...managedLabels(), [COMPONENT_LABEL]: HARDENING_COMPONENT };
}

/** Selector for the informers on hardening Jobs and their pods. */
export const HARDENING_SELECTOR = `${LABELS.managedBy}=${MANAGER},${COMPONENT_LABEL}=${HARDENING_COMPONENT}`;

/** One ConfigMap per script version, immutable: nobody can swap the script under a running Job. */
export function hijackConfigMapName(script: HijackScript): string {
  return `celula-hijack-${digestPrefix(script.sha256)}`;
}

export function buildHijackConfigMap(script: HijackScript, namespace: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: hijackConfigMapName(script),
      namespace,
      labels: hardeningLabels(),
      annotations: { [HARDENING_ANNOTATIONS.sha256]: script.sha256 },
    },
    immutable: true,
    data: { [HIJACK_KEY]: script.content },
  };
}

/** `celula-harden-<node>`, shortened with a hash of the node name when too long for a label value. */
export function hardeningJobName(node: string): string {
  const full = `celula-harden-${node}`;
  if (full.length <= MAX_LABEL_VALUE) return full;
  const hash = createHash('sha256').update(node).digest('hex').slice(0, 8);
  return `${full.slice(0, MAX_LABEL_VALUE - 9).replace(/[-.]+$/, '')}-${hash}`;
}

/**
 * The container's program (POSIX sh). It checks the mounted script against the digest the operator
 * expects, then enters PID 1's namespaces (hostPID + privileged make PID 1 the host's init) so that
 * hijack.sh runs on the host as the host: root `/`, kernel_context `host`, systemd reachable, live
 * processes killed, kubelet restarted, `--apply-kernel` allowed. The script is copied to the host's
 * /run (tmpfs) first and run from there, with a clean environment. Then `--check`, whose full JSON
 * goes to the pod log and whose compact summary goes to the termination message (≤ 4 KiB):
 * `{"v":1,"sha256":…,"context":…,"pass":[ids],"fail":[ids],"na":[ids]}` or `{"v":1,"error":…}`.
 * With HIJACK_NODE_LEASE_SECONDS set, both runs get --node-lease-seconds (the kubelet's Lease
 * duration is set, and --check requires it). hijack.sh validates the value (whole seconds 4..300).
 * The exit code is hijack.sh --check's (1 when anything fails), or 3 when it could not run.
 * Paths can be overridden by environment only for the unit test that runs this program.
 */
export const HARDENING_PROGRAM = `set -u
script="\${HIJACK_SCRIPT:-${SCRIPT_DIR}/${HIJACK_KEY}}"
hostdir="\${HIJACK_HOST_DIR:-${HOST_SCRIPT_DIR}}"
out="\${TERMINATION_LOG:-/dev/termination-log}"
finish() { printf '%s' "$1" >"$out"; exit "$2"; }
error() { printf 'celula-harden: %s\\n' "$1" >&2; finish "{\\"v\\":1,\\"error\\":\\"$1\\"}" 3; }
host() {
  nsenter --target 1 --mount --uts --ipc --net --pid --cgroup -- \\
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
have="$(sha256sum "$script" | cut -d' ' -f1)"
[ "$have" = "$HIJACK_SHA256" ] || error "script digest $have is not $HIJACK_SHA256"
host sh -c "umask 077 && mkdir -p '$hostdir' && cat >'$hostdir/hijack.sh'" <"$script" || error "cannot copy hijack.sh to the host"
lease=""
[ -z "\${HIJACK_NODE_LEASE_SECONDS:-}" ] || lease="--node-lease-seconds=$HIJACK_NODE_LEASE_SECONDS"
host bash "$hostdir/hijack.sh" --apply-kernel $lease || error "hijack.sh exited $?"
report="$(host bash "$hostdir/hijack.sh" --check $lease)"; rc=$?
printf '%s\\n' "$report"
ids() { printf '%s\\n' "$report" | sed -n "s/^ *{\\"id\\": \\"\\([^\\"]*\\)\\", \\"status\\": \\"$1\\".*/\\"\\1\\"/p" | tr '\\n' ',' | sed 's/,$//'; }
field() { printf '%s\\n' "$report" | sed -n "s/^ *\\"$1\\": \\"\\([a-z0-9]*\\)\\".*/\\1/p"; }
finish "{\\"v\\":1,\\"sha256\\":\\"$(field script_sha256)\\",\\"context\\":\\"$(field kernel_context)\\",\\"pass\\":[$(ids pass)],\\"fail\\":[$(ids fail)],\\"na\\":[$(ids not-applicable)]}" "$rc"
`;

function hardeningContainer(image: string, script: HijackScript, nodeLeaseSeconds?: number): V1Container {
  return {
    name: 'hijack',
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', HARDENING_PROGRAM],
    env: [
      { name: 'HIJACK_SHA256', value: script.sha256 },
      ...(nodeLeaseSeconds === undefined
        ? []
        : [{ name: 'HIJACK_NODE_LEASE_SECONDS', value: String(nodeLeaseSeconds) }]),
    ],
    // Privileged: nsenter into PID 1's mount namespace needs CAP_SYS_ADMIN, and hijack.sh on the
    // host needs every capability with no seccomp/AppArmor confinement (sysctls, swapoff, kill, systemctl).
    securityContext: { privileged: true, runAsUser: 0, readOnlyRootFilesystem: true },
    resources: {
      requests: { cpu: '100m', memory: '64Mi' },
      limits: { cpu: '1', memory: '256Mi' },
    },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    volumeMounts: [{ name: 'hijack', mountPath: SCRIPT_DIR, readOnly: true }],
  };
}

export interface HardeningJobInput {
  node: V1Node;
  script: HijackScript;
  namespace: string;
  image: string;
  /** The colony that needs the node: named in events; its cell-runtime label (a test harness signal) is copied. */
  colony: Colony;
  /** The kubelet Lease duration hijack.sh sets (--node-lease-seconds); undefined = the kubelet's own. */
  nodeLeaseSeconds?: number;
}

function podLabels(colony: Colony): Record<string, string> {
  const runtime = colony.metadata.labels?.[CELL_RUNTIME_LABEL];
  return { ...hardeningLabels(), ...(runtime === undefined ? {} : { [CELL_RUNTIME_LABEL]: runtime }) };
}

/**
 * The one-shot Job that hardens one node: pinned by nodeName (no scheduler, no other node), hostPID
 * (to reach the host's PID 1) and privileged — the only privileged pod the operator makes, and only
 * for a node not yet hardened. No host network/IPC, no hostPath, no API token, no retries (a failure
 * is recorded and retried by the operator after a backoff). Owned by the Node: deleted with it.
 */
export function buildHardeningJob(input: HardeningJobInput): V1Job {
  const nodeName = input.node.metadata?.name ?? '';
  const colonyKey = `${input.colony.metadata.namespace ?? ''}/${input.colony.metadata.name ?? ''}`;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: hardeningJobName(nodeName),
      namespace: input.namespace,
      labels: hardeningLabels(),
      annotations: {
        [HARDENING_ANNOTATIONS.node]: nodeName,
        [HARDENING_ANNOTATIONS.sha256]: input.script.sha256,
        [HARDENING_ANNOTATIONS.requestedBy]: colonyKey,
      },
      ownerReferences: [
        { apiVersion: 'v1', kind: 'Node', name: nodeName, uid: input.node.metadata?.uid ?? '' },
      ],
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: HARDENING_DEADLINE_SECONDS,
      template: {
        metadata: {
          labels: podLabels(input.colony),
          annotations: { [HARDENING_ANNOTATIONS.node]: nodeName },
        },
        spec: {
          nodeName,
          hostPID: true,
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          containers: [hardeningContainer(input.image, input.script, input.nodeLeaseSeconds)],
          volumes: [
            {
              name: 'hijack',
              configMap: {
                name: hijackConfigMapName(input.script),
                defaultMode: 0o555,
                items: [{ key: HIJACK_KEY, path: HIJACK_KEY }],
              },
            },
          ],
        },
      },
    },
  };
}

/** The compact `--check` summary the Job's container leaves as its termination message. */
export interface HardeningReport {
  sha256?: string;
  context?: string;
  pass: string[];
  fail: string[];
  na: string[];
  error?: string;
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
const optional = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Parses a termination message; undefined when it is missing or not a report (fail closed). */
export function parseHardeningReport(message: string | undefined): HardeningReport | undefined {
  if (!message) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || (raw as { v?: unknown }).v !== 1) return undefined;
  const r = raw as Record<string, unknown>;
  return {
    sha256: optional(r.sha256),
    context: optional(r.context),
    pass: strings(r.pass),
    fail: strings(r.fail),
    na: strings(r.na),
    error: optional(r.error),
  };
}

export function hardenedTaint(): V1Taint {
  return { key: HARDENED_TAINT, value: HARDENED_TAINT_VALUE, effect: 'NoSchedule' };
}

/**
 * Merge patch that marks a node hardened: the label, the taint (added to the node's other taints;
 * taints are an atomic list, so the patch carries the resourceVersion it was computed from) and the
 * failure annotations cleared.
 */
export function hardenedNodePatch(node: V1Node, sha256: string): object {
  const others = (node.spec?.taints ?? []).filter((t) => t.key !== HARDENED_TAINT);
  return {
    metadata: {
      resourceVersion: node.metadata?.resourceVersion,
      labels: { [LABELS.hardened]: digestPrefix(sha256) },
      annotations: {
        [FAILED_ANNOTATIONS.reason]: null,
        [FAILED_ANNOTATIONS.at]: null,
        [FAILED_ANNOTATIONS.job]: null,
      },
    },
    spec: { taints: [...others, hardenedTaint()] },
  };
}

/** Merge patch that records a failed hardening on the node (no label, no taint). */
export function failedNodePatch(reason: string, at: Date, jobUid: string): object {
  const short = reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason;
  return {
    metadata: {
      annotations: {
        [FAILED_ANNOTATIONS.reason]: short,
        [FAILED_ANNOTATIONS.at]: at.toISOString(),
        [FAILED_ANNOTATIONS.job]: jobUid,
      },
    },
  };
}
