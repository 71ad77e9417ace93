// Support for bench/scale.ts: a counting TLS proxy in front of the API server (what the operator
// asks, request by request), a simulated kubelet + cell processes for every cell pod, and /proc and
// /metrics readers for the operator process.
import { randomBytes, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';

import { CELL_PLURAL, GROUP, LABELS, VERSION, type Cell, type Colony } from '../src/api/types.js';
import { CELL_RUNTIME_LABEL } from '../src/builders/pod.js';
import { signKeyProof } from '../src/cell/key-proof.js';
import { ColonySecret } from '../src/cell/secret.js';
import { Informer } from '../src/runtime/informer.js';

// ---------------------------------------------------------------- counting proxy

/** `VERB resource[/subresource]`, e.g. `PATCH cells/status`, `WATCH leases`, `LIST pods`. */
export function requestKind(method: string, url: string): string {
  const u = new URL(url, 'https://x');
  const parts = u.pathname.split('/').filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...
  const rest = parts[0] === 'api' ? parts.slice(2) : parts[0] === 'apis' ? parts.slice(3) : parts;
  const segs = rest[0] === 'namespaces' && rest.length > 2 ? rest.slice(2) : rest;
  const [resource = u.pathname, name, sub] = segs;
  const watch = u.searchParams.get('watch') === 'true' || u.searchParams.get('watch') === '1';
  let verb = method.toUpperCase();
  if (verb === 'GET') verb = watch ? 'WATCH' : name === undefined ? 'LIST' : 'GET';
  return `${verb} ${resource}${sub ? `/${sub}` : ''}`;
}

export const isWrite = (kind: string): boolean => /^(POST|PUT|PATCH|DELETE) /.test(kind);

export type Counts = Map<string, number>;

/** b − a per key (keys with 0 dropped). */
export function diffCounts(b: Counts, a: Counts): Counts {
  const out: Counts = new Map();
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? 0);
    if (d !== 0) out.set(k, d);
  }
  return out;
}

export const total = (c: Counts, pred: (k: string) => boolean = () => true): number =>
  [...c].filter(([k]) => pred(k)).reduce((s, [, v]) => s + v, 0);

/** The top entries of a count map as `kind=n` text, largest first. */
export function topCounts(c: Counts, n = 12): string {
  return [...c]
    .sort((x, y) => y[1] - x[1])
    .slice(0, n)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/**
 * An HTTPS reverse proxy on loopback, serving the API server's own certificate (so the operator's
 * kubeconfig keeps the cluster CA), forwarding every request unchanged (bearer token included) and
 * counting it by requestKind. Watches stream through.
 */
export class CountingProxy {
  readonly #counts: Counts = new Map();
  #server: https.Server | undefined;
  readonly #upstream: URL;
  readonly #ca: Buffer;

  constructor(upstream: string, caFile: string) {
    this.#upstream = new URL(upstream);
    this.#ca = fs.readFileSync(caFile);
  }

  async start(certFile: string, keyFile: string): Promise<string> {
    const server = https.createServer(
      { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
      (req, res) => this.#forward(req, res),
    );
    this.#server = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  snapshot(): Counts {
    return new Map(this.#counts);
  }

  stop(): void {
    this.#server?.close();
    this.#server?.closeAllConnections();
  }

  #forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const kind = requestKind(req.method ?? 'GET', req.url ?? '/');
    this.#counts.set(kind, (this.#counts.get(kind) ?? 0) + 1);
    const up = https.request(
      {
        host: this.#upstream.hostname,
        port: this.#upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: this.#upstream.host },
        ca: this.#ca,
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  }
}

// ---------------------------------------------------------------- operator process readers

export interface ProcSample {
  rssMiB: number;
  hwmMiB: number;
  /** utime + stime in clock ticks (USER_HZ = 100 on Linux). */
  cpuTicks: number;
}

export function procSample(pid: number): ProcSample {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the comm field: state is fields[0]; utime and stime are fields 14 and 15 of stat (1-based).
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024, cpuTicks };
}

/** GET http://<addr>/metrics as text. */
export function scrape(addr: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(`http://${addr}/metrics`, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** Sum of a metric's samples whose label text contains `labelFilter` (e.g. `controller="cell"`). */
export function metricSum(text: string, name: string, labelFilter = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labelFilter && !line.includes(labelFilter)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

// ---------------------------------------------------------------- simulated kubelet and cells

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** A genuine cell writes its status with this field manager (src/cell/kube.ts). */
const CELL_FIELD_MANAGER = 'celula-cell';

export interface SimKubeletOptions {
  admin: KubeConfig;
  server: string;
  caFile: string;
  namespace: string;
  /** The node's identity (system:node:<node>): a kubelet mints its pods' tokens; the lock-down allows only that. */
  nodeIdentity: (node: string) => KubeConfig;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
}

const envOf = (pod: V1Pod, name: string): string | undefined =>
  pod.spec?.containers?.[0]?.env?.find((e) => e.name === name)?.value;

/**
 * Plays, for every cell pod (label celula.io/cell-runtime=local) bound to a node, its kubelet and
 * its cell process, with three writes per cell:
 *   1. a TokenRequest bound to the pod (its projected API token), then with it the Cell's status as the cell writes it (merge patch, field manager celula-cell): joinKey (a
 *      fresh random X25519-like digest), publicKey, fingerprint, and keyProof, a real signature by
 *      the colony key (src/cell/key-proof.ts signKeyProof over colony uid, cell name and uid, pod
 *      uid, key). One real ed25519 ColonySecret per colony lives in this process: the genesis cell's
 *      pod "generates" it; a joiner "joins" (reports the same key) only once the operator recorded
 *      the colony's publicKey, as a real joiner can only obtain the secret from a holder then.
 *   2. the pod's status as a kubelet reports it: Running, podIP, startTime, a running container
 *      with an imageID carrying the image digest, Ready/ContainersReady/Initialized/PodScheduled True.
 * A genuine cell writes joinKey earlier (before its first hello) and a kubelet reports Running before
 * Ready: here each pair is one write. Pods on `lose(node)` nodes are left alone (a dead kubelet).
 */
export class SimKubelet {
  readonly #opts: SimKubeletOptions;
  readonly #core: CoreV1Api;
  readonly pods: Informer<V1Pod>;
  readonly colonies: Informer<Colony>;
  readonly cells: Informer<Cell>;
  readonly #secrets = new Map<string, ColonySecret>();
  readonly #done = new Set<string>();
  readonly #busy = new Set<string>();
  readonly #lost = new Set<string>();
  readonly #queue: Array<() => Promise<void>> = [];
  #running = 0;
  #ip = 0;
  writes = 0;
  errors = 0;
  lastError = '';

  constructor(opts: SimKubeletOptions) {
    this.#opts = opts;
    this.#core = opts.admin.makeApiClient(CoreV1Api);
    const ns = opts.namespace;
    this.pods = new Informer<V1Pod>({
      kubeConfig: opts.admin,
      path: `/api/v1/namespaces/${ns}/pods`,
      labelSelector: `${CELL_RUNTIME_LABEL}=local`,
    });
    this.colonies = new Informer<Colony>({
      kubeConfig: opts.admin,
      path: `/apis/${GROUP}/${VERSION}/namespaces/${ns}/colonies`,
    });
    this.cells = new Informer<Cell>({
      kubeConfig: opts.admin,
      path: `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${CELL_PLURAL}`,
    });
    this.pods.onChange((p) => this.#consider(p));
    // The operator recorded the pod's uid in the Cell: the cell may write its status now.
    this.cells.onChange((c) => {
      const pod = this.pods.get(ns, c.metadata.name ?? '');
      if (pod) this.#consider(pod);
    });
    // A colony that just got its key lets its waiting joiners finish.
    this.colonies.onChange((c) => {
      if (!c.status?.publicKey) return;
      for (const p of this.pods.list())
        if (p.metadata?.labels?.[LABELS.colony] === c.metadata.name) this.#consider(p);
    });
  }

  async start(): Promise<void> {
    const all = [this.pods, this.colonies, this.cells];
    all.forEach((i) => i.start());
    await Promise.all(all.map((i) => i.waitForSync(60_000)));
  }

  async stop(): Promise<void> {
    await Promise.all([this.pods.stop(), this.colonies.stop(), this.cells.stop()]);
  }

  /** The machine under `node` died: nothing on it is reported any more. */
  lose(node: string): void {
    this.#lost.add(node);
  }

  /** The machine came back (its pods kept running: a partition, not a crash). */
  restore(node: string): void {
    this.#lost.delete(node);
  }

  #consider(pod: V1Pod): void {
    const uid = pod.metadata?.uid ?? '';
    const node = pod.spec?.nodeName;
    if (!node || this.#lost.has(node) || pod.metadata?.deletionTimestamp) return;
    if (this.#done.has(uid) || this.#busy.has(uid)) return;
    // The cell-identity policy lets a pod write its Cell only once the Cell records its uid.
    if (this.cells.get(this.#opts.namespace, pod.metadata?.name ?? '')?.status?.podUID !== uid) return;
    const genesis = envOf(pod, 'CELULA_GENESIS') === 'true';
    const colony = this.colonies.get(this.#opts.namespace, pod.metadata?.labels?.[LABELS.colony] ?? '');
    if (!genesis && !colony?.status?.publicKey) return; // a joiner waits for a holder to exist
    this.#busy.add(uid);
    this.#enqueue(() => this.#run(pod, genesis));
  }

  #enqueue(job: () => Promise<void>): void {
    this.#queue.push(job);
    this.#pump();
  }

  #pump(): void {
    while (this.#running < (this.#opts.concurrency ?? 16) && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#running += 1;
      void job().finally(() => {
        this.#running -= 1;
        this.#pump();
      });
    }
  }

  async #run(pod: V1Pod, genesis: boolean): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    try {
      await this.#reportIdentity(pod, genesis);
      await this.#reportReady(pod);
      this.#done.add(uid);
    } catch (err) {
      // The pod or cell went away meanwhile, or a transient error: seen again on its next change.
      this.errors += 1;
      this.lastError = String((err as { body?: unknown }).body ?? err).slice(0, 300);
    } finally {
      this.#busy.delete(uid);
    }
  }

  async #reportIdentity(pod: V1Pod, genesis: boolean): Promise<void> {
    const colonyUID = envOf(pod, 'CELULA_COLONY_UID') ?? '';
    let secret = this.#secrets.get(colonyUID);
    if (!secret) {
      if (!genesis) throw new Error('a joiner with no holder to join from');
      secret = ColonySecret.generate('ed25519');
      this.#secrets.set(colonyUID, secret);
    }
    const cellRef = pod.metadata?.ownerReferences?.find((r) => r.kind === 'Cell' && r.controller);
    const cell = pod.metadata?.name ?? '';
    const keyProof = signKeyProof(secret, {
      colonyUID,
      cell,
      cellUID: cellRef?.uid,
      podUID: pod.metadata?.uid ?? '',
    });
    const joinKey = `sha256:${createHash('sha256').update(randomBytes(32)).digest('hex')}`;
    const status = { joinKey, publicKey: secret.publicKey, fingerprint: secret.fingerprint, keyProof };
    // As the cell: with a token bound to its pod (the cell-identity policy checks the pod claims).
    this.writes += 2;
    const custom = (await this.#podIdentity(pod)).makeApiClient(CustomObjectsApi);
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: this.#opts.namespace,
        plural: CELL_PLURAL,
        name: cell,
        body: { status },
        fieldManager: CELL_FIELD_MANAGER,
      },
      mergePatch,
    );
  }

  /** A pod-bound token for the pod's service account (the projected kube-api-access token). */
  async #podIdentity(pod: V1Pod): Promise<KubeConfig> {
    const core = this.#opts.nodeIdentity(pod.spec?.nodeName ?? '').makeApiClient(CoreV1Api);
    const res = await core.createNamespacedServiceAccountToken({
      name: pod.spec?.serviceAccountName ?? 'default',
      namespace: this.#opts.namespace,
      body: {
        spec: {
          audiences: [],
          expirationSeconds: 3600,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid },
        },
      },
    });
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: this.#opts.server, caFile: this.#opts.caFile }],
      users: [{ name: 'cell', token: res.status?.token }],
      contexts: [{ name: 'c', cluster: 'c', user: 'cell' }],
      currentContext: 'c',
    });
    return kc;
  }

  async #reportReady(pod: V1Pod): Promise<void> {
    const now = new Date().toISOString();
    const image = pod.spec?.containers?.[0]?.image ?? '';
    const digest = image.slice(image.indexOf('@') + 1);
    this.#ip += 1;
    const ip = `10.${200 + Math.floor(this.#ip / 65_025)}.${Math.floor(this.#ip / 255) % 255}.${(this.#ip % 255) + 1}`;
    const cond = (type: string): object => ({ type, status: 'True', lastTransitionTime: now });
    const status = {
      phase: 'Running',
      podIP: ip,
      podIPs: [{ ip }],
      startTime: now,
      conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map(cond),
      containerStatuses: [
        {
          name: 'cell',
          image,
          imageID: `${image.slice(0, image.indexOf('@'))}@${digest}`,
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: now } },
        },
      ],
    };
    this.writes += 1;
    await this.#core.patchNamespacedPodStatus(
      { name: pod.metadata?.name ?? '', namespace: this.#opts.namespace, body: { status } },
      mergePatch,
    );
  }
}
