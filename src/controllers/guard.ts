// The mass-disruption guard (docs/floor.md): when many nodes go silent at once, when the operator has
// only just begun observing (start, leadership gained) or the API server was unreachable, silence is
// the control plane's fault, not the nodes'. Kubernetes' node lifecycle controller does the same: it
// stops evicting when a zone is fully disrupted, and times Leases by its own observations.
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import type { Cell } from '../api/types.js';
import { judgeLease, NODE_LEASE_NAMESPACE } from './node-lease.js';

export interface MassDisruptionOptions {
  /** Silent share of the nodes hosting cells above which silence is a control-plane fault. */
  fraction: number;
  /** Below this many nodes hosting cells the share is not judged (one lost node of two is not a fault). */
  minNodes: number;
}

export const MASS_DISRUPTION_DEFAULTS: MassDisruptionOptions = { fraction: 0.5, minNodes: 3 };

/** Re-judge the cluster at most this often: the verdict is shared by every reconcile meanwhile. */
const VERDICT_TTL_MS = 1000;

export interface GuardVerdict {
  /** Why silence is excused now, or undefined when silence is suspicion. */
  fault?: string;
  silent: number;
  population: number;
}

/** What the guard reads: the operator's caches (never a live list). */
export interface GuardView {
  nodes: { get(namespace: string | undefined, name: string): V1Node | undefined };
  nodeLeases: { get(namespace: string | undefined, name: string): V1Lease | undefined };
  cells: { list(namespace?: string): Cell[] };
  nodeLossAfter?: number;
}

/** The node's Ready status as the control plane last recorded it ('Unknown' when absent). */
export function readyStatus(node: V1Node): 'True' | 'False' | 'Unknown' {
  const s = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return s === 'True' || s === 'False' ? s : 'Unknown';
}

/**
 * Silent: the node's Lease is stale (counted from `observingSince`) or the node lifecycle controller
 * stopped hearing it (Ready Unknown). A node that says NotReady itself (Ready False) is heard.
 */
export function nodeSilent(
  node: V1Node,
  lease: V1Lease | undefined,
  now: Date,
  opts: { nodeLossAfter?: number; observingSince?: Date },
): boolean {
  if (judgeLease(lease, now, opts.nodeLossAfter, opts.observingSince).kind === 'lost') return true;
  return readyStatus(node) === 'Unknown';
}

/** Pure: whether `silent` of `population` nodes is a mass disruption. */
export function isMassDisruption(silent: number, population: number, o: MassDisruptionOptions): boolean {
  return population >= o.minNodes && silent > o.fraction * population;
}

export class FloorGuard {
  #since: Date;
  #why: string;
  #memo: { at: number; verdict: GuardVerdict } | undefined;
  readonly #listeners: Array<() => void> = [];

  constructor(
    readonly options: MassDisruptionOptions,
    start: Date,
  ) {
    this.#since = start;
    this.#why = 'the operator started';
  }

  /** Silence is counted only from here (start, leadership gained, API server back). */
  observingSince(): Date {
    return this.#since;
  }

  /** The operator (re)starts observing: no Lease is stale until it has watched a full threshold. */
  restart(now: Date, why: string): void {
    const moved = now.getTime() > this.#since.getTime();
    if (moved) {
      this.#since = now;
      this.#why = why;
    }
    this.#memo = undefined;
    if (moved) for (const listener of this.#listeners) listener();
  }

  /** Called after each restart that moved the observation start (node-liveness.ts judges again). */
  onRestart(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Silence is excused while many nodes hosting cells are silent at once. Cached for a second. */
  verdict(view: GuardView, now: Date): GuardVerdict {
    const memo = this.#memo;
    if (memo && now.getTime() - memo.at < VERDICT_TTL_MS && now.getTime() >= memo.at) return memo.verdict;
    const verdict = this.#judge(view, now);
    this.#memo = { at: now.getTime(), verdict };
    return verdict;
  }

  /** Why the operator just began observing, for messages. */
  reason(): string {
    return this.#why;
  }

  #judge(view: GuardView, now: Date): GuardVerdict {
    const hosts = new Set(
      view.cells
        .list()
        .filter((c) => c.status?.phase !== 'Dead')
        .map((c) => c.spec.node),
    );
    let silent = 0;
    let population = 0;
    for (const name of hosts) {
      const node = view.nodes.get(undefined, name);
      if (!node) continue; // a deleted node is proof, not silence
      population++;
      const lease = view.nodeLeases.get(NODE_LEASE_NAMESPACE, name);
      const opts = { nodeLossAfter: view.nodeLossAfter, observingSince: this.#since };
      if (nodeSilent(node, lease, now, opts)) silent++;
    }
    const fault = isMassDisruption(silent, population, this.options)
      ? `${silent} of ${population} nodes hosting cells are silent at once: a control-plane fault, not node loss`
      : undefined;
    return { fault, silent, population };
  }
}
