// The lock-down controller (src/controllers/lockdown-wiring.ts) on static caches, for the unit
// tests: the same write client shape as the operator's (one PriorityTokenBucket, writePriority from
// src/operator.ts); writes are recorded, not sent. Tests change the caches by hand (what an informer
// would show) and call reconcile.
import { Registry } from 'prom-client';
import type { KubernetesObject, V1Node, V1Pod } from '@kubernetes/client-node';

import type { Cell, Colony } from '../../../src/api/types.js';
import { lockdownParams, lockdownPolicies, type LockdownOptions } from '../../../src/builders/lockdown.js';
import { lockdownController, type Lockdown } from '../../../src/controllers/lockdown-wiring.js';
import { createLogger } from '../../../src/observability/logger.js';
import { writePriority } from '../../../src/operator.js';
import { FakeClock } from '../../../src/runtime/clock.js';
import type { ChangeHandler } from '../../../src/runtime/controller.js';
import type { InformerSource, ResourceSpec, SharedInformer } from '../../../src/runtime/manager.js';
import { PriorityTokenBucket } from '../../../src/runtime/rate-limit.js';
import type { WriteRequest } from '../../../src/runtime/write.js';

export const OPTS: LockdownOptions = {
  operatorNamespace: 'celula-system',
  operatorServiceAccount: 'celula-operator',
};

export class StaticCache<T extends object> implements SharedInformer<T> {
  items: T[] = [];
  onChange(_h: ChangeHandler<T>): void {}
  get(_ns: string | undefined, name: string): T | undefined {
    return this.items.find((o) => (o as { metadata?: { name?: string } }).metadata?.name === name);
  }
  list(): T[] {
    return this.items;
  }
  start(): void {}
  stop(): Promise<void> {
    return Promise.resolve();
  }
  waitForSync(): Promise<void> {
    return Promise.resolve();
  }
  hasSynced(): boolean {
    return true;
  }
}

class StaticSource implements InformerSource {
  readonly byPath = new Map<string, StaticCache<object>>();
  informer<T extends object>(spec: ResourceSpec): SharedInformer<T> {
    let c = this.byPath.get(spec.path);
    if (!c) {
      c = new StaticCache<object>();
      this.byPath.set(spec.path, c);
    }
    return c as unknown as SharedInformer<T>;
  }
  cache(suffix: string): StaticCache<object> {
    const hit = [...this.byPath.entries()].find(([p]) => p.endsWith(suffix));
    if (!hit) throw new Error(`no informer for ${suffix}`);
    return hit[1];
  }
}

/** Lets promise callbacks run (the bucket resolves waiters from timer callbacks). */
export const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface Harness {
  clock: FakeClock;
  bucket: PriorityTokenBucket;
  /** `<fake ms> <verb> <kind> <name>` per write sent. */
  log: string[];
  /** The parameters' data of each write, in order. */
  paramWrites: Array<Record<string, string>>;
  colonies: StaticCache<Colony>;
  cells: StaticCache<Cell>;
  /** The shared (cell) pod cache; bound pods are `src.cache('/pods')`. */
  pods: StaticCache<V1Pod>;
  registry: Registry;
  lockdown: Lockdown;
  reconcile: () => Promise<unknown>;
  src: StaticSource;
}

function paramsData(obj: KubernetesObject): Record<string, string> | undefined {
  return obj.kind === 'LockdownParameters'
    ? ((obj as { data?: Record<string, string> }).data ?? {})
    : undefined;
}

/** Everything in place (policies, bindings, empty parameters): the first reconcile says Intact. */
export function harness(opts: { eventFails?: boolean } = {}): Harness {
  const clock = new FakeClock(1_000_000);
  const bucket = new PriorityTokenBucket({ qps: 50, burst: 100 }, clock);
  const log: string[] = [];
  const paramWrites: Array<Record<string, string>> = [];
  const admit = (w: WriteRequest): Promise<void> => bucket.acquire(writePriority(w));
  const record = async (verb: 'create' | 'replace', obj: KubernetesObject): Promise<void> => {
    await admit({ verb, kind: obj.kind });
    log.push(`${clock.now()} ${verb} ${obj.kind} ${obj.metadata?.name}`);
    const data = paramsData(obj);
    if (data) paramWrites.push(data);
  };
  const src = new StaticSource();
  const colonies = new StaticCache<Colony>();
  const cells = new StaticCache<Cell>();
  const pods = new StaticCache<V1Pod>();
  const registry = new Registry();
  const lockdown = lockdownController({
    client: {
      create: (obj) => record('create', obj),
      replace: (obj) => record('replace', obj),
      event: async (_ref, _type, reason) => {
        await admit({ verb: 'event', kind: 'Event' });
        if (opts.eventFails) throw new Error('events: 503 service unavailable');
        log.push(`${clock.now()} event ${reason}`);
      },
    },
    logger: createLogger({ level: 'silent' }),
    registry,
    opts: OPTS,
    nodes: new StaticCache<V1Node>(),
    cells,
    colonies,
    pods,
    informers: src,
    onChange: () => undefined,
    now: () => new Date(clock.now()),
    eventIntervalMs: 0,
  });
  const objects = lockdownPolicies(OPTS);
  src.cache('/validatingadmissionpolicies').items = objects.filter(
    (o) => o.kind === 'ValidatingAdmissionPolicy',
  );
  src.cache('/validatingadmissionpolicybindings').items = objects.filter(
    (o) => o.kind === 'ValidatingAdmissionPolicyBinding',
  );
  observeParams({ src }, {}, '1');
  const reconcile = (): Promise<unknown> =>
    Promise.resolve(
      lockdown.controller.reconcile({ key: 'x', log: createLogger({ level: 'silent' }) } as never),
    );
  return { clock, bucket, log, paramWrites, colonies, cells, pods, registry, lockdown, reconcile, src };
}

/** What the parameters informer shows now. */
export function observeParams(h: Pick<Harness, 'src'>, data: Record<string, string>, rv: string): void {
  h.src.cache('/lockdownparameters').items = [
    { ...lockdownParams([], []), data, metadata: { name: 'celula-lockdown', resourceVersion: rv, uid: 'u' } },
  ];
}
