// Support for bench/scale.ts: a counting TLS proxy in front of the API server (what the operator
// asks, request by request), a simulated kubelet + cell processes for every cell pod, and /proc and
// /metrics readers for the operator process.
import { randomBytes, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';

import { CELL_PLURAL, GROUP, LABELS, VERSION, type Cell, type Colony } from '../src/api/types.js';
import { CELL_RUNTIME_LABEL } from '../src/builders/pod.js';
import { signKeyProof } from '../src/cell/key-proof.js';
import { ColonySecret } from '../src/cell/secret.js';
import { Informer } from '../src/runtime/informer.js';
import { listPids } from '../test/cluster/procs.js';

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
  /** While recording: every write (method, path, body) the operator makes, in order. */
  #journal: string[] | undefined;

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

  /** Starts recording every write's method, path and body (to see what a window's writes were). */
  record(): void {
    this.#journal = [];
  }

  /** Stops recording; the writes recorded since record(), in order. */
  recorded(): string[] {
    const out = this.#journal ?? [];
    this.#journal = undefined;
    return out;
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
    const journal = this.#journal;
    if (journal && req.method !== 'GET') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => journal.push(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`));
    }
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
  if (!fs.existsSync(`/proc/${pid}`))
    throw new Error(`process ${pid} exited (the operator: see logs/celula-operator.log in the state dir)`);
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the comm field: state is fields[0]; utime and stime are fields 14 and 15 of stat (1-based).
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024, cpuTicks };
}

/** CPU seconds used so far: each component recorded in the cluster's state dir, and this process. */
export function cpuByProcess(stateDir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, rec] of listPids(stateDir)) {
    try {
      out.set(name, procSample(rec.pid).cpuTicks / 100);
    } catch {
      // exited meanwhile (a stopped kwok pool): nothing to count
    }
  }
  const self = process.cpuUsage();
  out.set('bench (this process: simulation, proxy, informers)', (self.user + self.system) / 1e6);
  return out;
}

/** `name=12.3s (40%)` per process between two cpuByProcess samples, largest first, and the total. */
export function cpuShares(before: Map<string, number>, after: Map<string, number>, wallMs: number): string {
  const d = [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0.05);
  const sum = d.reduce((s, [, v]) => s + v, 0);
  const parts = d
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `${k}=${v.toFixed(1)}s (${((v / sum) * 100).toFixed(0)}%)`);
  const cores = sum / (wallMs / 1000);
  return `${parts.join(', ')}; total ${sum.toFixed(1)} CPU-s in ${(wallMs / 1000).toFixed(1)} s = ${cores.toFixed(2)} cores busy`;
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

// ---------------------------------------------------------------- a cheap API client

/**
 * Requests to the API server over keep-alive HTTPS connections, one agent per identity: the
 * simulation makes thousands of requests as a thousand node identities, and a client library that
 * opens a TLS connection per request (or a fresh client per cell) spends more CPU on handshakes than
 * the API server spends answering.
 */
export class RawApi {
  readonly #server: URL;
  readonly #agents = new Map<string, Promise<https.Agent>>();

  constructor(server: string) {
    this.#server = new URL(server);
  }

  /**
   * An agent carrying `kc`'s CA and, unless `caOnly`, its client certificate, made once per `id`.
   * Bearer-token requests need `caOnly`: the API server authenticates a client certificate first.
   */
  agent(id: string, kc: KubeConfig, caOnly = false): Promise<https.Agent> {
    let a = this.#agents.get(id);
    if (!a) {
      a = (async (): Promise<https.Agent> => {
        const opts: https.RequestOptions = {};
        await kc.applyToHTTPSOptions(opts);
        // Only the TLS material: a bearer token in the kubeconfig would go into headers, not the agent.
        const { ca, cert, key } = opts;
        const tls = caOnly ? { ca } : { ca, cert, key };
        // Idle sockets close after 10 s: a thousand node identities need not hold a thousand connections.
        return new https.Agent({ keepAlive: true, maxSockets: 4, timeout: 10_000, ...tls });
      })();
      this.#agents.set(id, a);
    }
    return a;
  }

  /** Sends `body` as JSON (`contentType` for patches) and resolves with the parsed answer; rejects on ≥ 300. */
  async request(
    agent: https.Agent,
    req: { method: string; path: string; body?: unknown; contentType?: string; token?: string },
  ): Promise<unknown> {
    const data = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (data !== undefined) headers['content-type'] = req.contentType ?? 'application/json';
    if (req.token) headers.authorization = `Bearer ${req.token}`;
    return new Promise((resolve, reject) => {
      const r = https.request(
        {
          host: this.#server.hostname,
          port: this.#server.port,
          method: req.method,
          path: req.path,
          headers,
          agent,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            if ((res.statusCode ?? 500) < 300) resolve(text ? JSON.parse(text) : undefined);
            else reject(new Error(`${req.method} ${req.path}: ${res.statusCode} ${text.slice(0, 300)}`));
          });
        },
      );
      r.on('error', reject);
      r.end(data);
    });
  }

  close(): void {
    for (const a of this.#agents.values()) void a.then((x) => x.destroy());
  }
}

// ---------------------------------------------------------------- simulated kubelet and cells

const MERGE_PATCH = 'application/merge-patch+json';
/** A genuine cell writes its status with this field manager (src/cell/kube.ts). */
const CELL_FIELD_MANAGER = 'celula-cell';

export interface SimKubeletOptions {
  admin: KubeConfig;
  server: string;
  namespace: string;
  /** The node's identity (system:node:<node>): a kubelet mints its pods' tokens; the lock-down allows only that. */
  nodeIdentity: (node: string) => KubeConfig;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
}

/** How often the simulated kubelets compare pod status with the API server's (a kubelet's sync period). */
const STATUS_SYNC_MS = 10_000;

const envOf = (pod: V1Pod, name: string): string | undefined =>
  pod.spec?.containers?.[0]?.env?.find((e) => e.name === name)?.value;

/**
 * Plays, for every cell pod (label celula.io/cell-runtime=local) bound to a node, its kubelet and
 * its cell process, with three requests per cell:
 *   1. a TokenRequest bound to the pod, made with its node's identity (system:node:<node>: the
 *      lock-down lets only kubelets mint cell tokens), as the kubelet does for the projected token;
 *   2. with that token, the Cell's status as the cell writes it (merge patch, field manager
 *      celula-cell; the cell-identity policy checks the token's pod claims): joinKey (a fresh random
 *      digest), publicKey, fingerprint, and keyProof, a real signature by the colony key
 *      (src/cell/key-proof.ts signKeyProof over colony uid, cell name and uid, pod uid, key). One
 *      real ed25519 ColonySecret per colony lives in this process: the genesis cell's pod
 *      "generates" it; a joiner "joins" (reports the same key) only once the operator recorded the
 *      colony's publicKey, as a real joiner can only obtain the secret from a holder then;
 *   3. the pod's status as a kubelet reports it (as admin): Running, podIP, startTime, a running
 *      container with an imageID carrying the image digest, Ready/ContainersReady/Initialized/PodScheduled.
 * A genuine cell writes joinKey earlier (before its first hello) and a kubelet reports Running before
 * Ready: here each pair is one write. Pods on `lose(node)` nodes are left alone (a dead kubelet).
 * Requests go over keep-alive connections (RawApi): one per node identity, one for admin, one for
 * every cell token.
 */
export class SimKubelet {
  readonly #opts: SimKubeletOptions;
  readonly #api: RawApi;
  readonly pods: Informer<V1Pod>;
  readonly colonies: Informer<Colony>;
  readonly cells: Informer<Cell>;
  readonly #secrets = new Map<string, ColonySecret>();
  readonly #done = new Set<string>();
  readonly #busy = new Set<string>();
  readonly #lost = new Set<string>();
  readonly #keyed = new Set<string>();
  readonly #queue: Array<() => Promise<void>> = [];
  #running = 0;
  #ip = 0;
  #sync: NodeJS.Timeout | undefined;
  #syncing = false;
  writes = 0;
  errors = 0;
  lastError = '';
  /** Pods reported Ready again by the status sync (their node's heartbeat had lapsed). */
  reReported = 0;

  constructor(opts: SimKubeletOptions) {
    this.#opts = opts;
    this.#api = new RawApi(opts.server);
    const ns = opts.namespace;
    this.pods = new Informer<V1Pod>({
      kubeConfig: opts.admin,
      path: `/api/v1/namespaces/${ns}/pods`,
      labelSelector: `${CELL_RUNTIME_LABEL}=local`,
      indexers: { colony: (p: V1Pod) => [p.metadata?.labels?.[LABELS.colony] ?? ''] },
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
    // A colony that just got its key lets its waiting joiners finish (once per colony: later
    // changes of its status wake nobody new).
    this.colonies.onChange((c) => {
      const name = c.metadata.name ?? '';
      if (!c.status?.publicKey || this.#keyed.has(name)) return;
      this.#keyed.add(name);
      for (const p of this.pods.byIndex('colony', name)) this.#consider(p);
    });
  }

  async start(): Promise<void> {
    const all = [this.pods, this.colonies, this.cells];
    all.forEach((i) => i.start());
    await Promise.all(all.map((i) => i.waitForSync(60_000)));
    this.#sync = setInterval(() => {
      if (this.#syncing) return; // the last sync still waits on node reads
      this.#syncing = true;
      void this.#statusSync().finally(() => (this.#syncing = false));
    }, STATUS_SYNC_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.#sync);
    await Promise.all([this.pods.stop(), this.colonies.stop(), this.cells.stop()]);
    this.#api.close();
  }

  /** The machine under `node` died: nothing on it is reported any more. */
  lose(node: string): void {
    this.#lost.add(node);
  }

  /**
   * The machine came back (its pods kept running: a partition, not a crash). Its kubelet reports
   * its pods again: Kubernetes' node lifecycle controller marked them not Ready while it was silent.
   */
  restore(node: string): void {
    this.#lost.delete(node);
    for (const pod of this.pods.list()) {
      if (pod.spec?.nodeName !== node || !this.#done.has(pod.metadata?.uid ?? '')) continue;
      this.#enqueue(() =>
        this.#reportReady(pod).catch((err: unknown) => {
          this.errors += 1;
          this.lastError = String(err instanceof Error ? err.message : err).slice(0, 300);
        }),
      );
    }
  }

  /**
   * A kubelet's status sync (every 10 s): a pod it runs that the API server shows not Ready — the
   * node lifecycle controller marks every pod of a node whose heartbeat lapsed, here when a starved
   * kwok renews late — is reported Ready again once its node is Ready again. A node still not Ready
   * is left alone (the controller would mark the pod again), and so is a lost node's.
   */
  async #statusSync(): Promise<void> {
    const stale = this.pods
      .list()
      .filter(
        (p) =>
          this.#done.has(p.metadata?.uid ?? '') &&
          !this.#lost.has(p.spec?.nodeName ?? '') &&
          !p.metadata?.deletionTimestamp &&
          p.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True',
      );
    const nodes = new Map<string, Promise<boolean>>();
    const nodeReady = (name: string): Promise<boolean> => {
      let r = nodes.get(name);
      if (!r) {
        r = this.#api
          .agent('admin', this.#opts.admin)
          .then((agent) => this.#api.request(agent, { method: 'GET', path: `/api/v1/nodes/${name}` }))
          .then((n) => (n as V1Node).status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True')
          .catch(() => false);
        nodes.set(name, r);
      }
      return r;
    };
    for (const pod of stale) {
      const uid = pod.metadata?.uid ?? '';
      if (this.#busy.has(uid) || !(await nodeReady(pod.spec?.nodeName ?? ''))) continue;
      this.#busy.add(uid);
      this.#enqueue(() =>
        this.#reportReady(pod)
          .then(() => void (this.reReported += 1))
          .catch((err: unknown) => {
            this.errors += 1;
            this.lastError = String(err instanceof Error ? err.message : err).slice(0, 300);
          })
          .finally(() => this.#busy.delete(uid)),
      );
    }
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
      this.lastError = String(err instanceof Error ? err.message : err).slice(0, 300);
    } finally {
      this.#busy.delete(uid);
    }
  }

  #secretFor(colonyUID: string, genesis: boolean): ColonySecret {
    let secret = this.#secrets.get(colonyUID);
    if (!secret) {
      if (!genesis) throw new Error('a joiner with no holder to join from');
      secret = ColonySecret.generate('ed25519');
      this.#secrets.set(colonyUID, secret);
    }
    return secret;
  }

  async #reportIdentity(pod: V1Pod, genesis: boolean): Promise<void> {
    const colonyUID = envOf(pod, 'CELULA_COLONY_UID') ?? '';
    const secret = this.#secretFor(colonyUID, genesis);
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
    const token = await this.#podToken(pod);
    const ns = this.#opts.namespace;
    await this.#api.request(await this.#api.agent('cells', this.#opts.admin, true), {
      method: 'PATCH',
      path: `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${CELL_PLURAL}/${cell}/status?fieldManager=${CELL_FIELD_MANAGER}`,
      body: { status },
      contentType: MERGE_PATCH,
      token,
    });
  }

  /** A pod-bound token for the pod's service account (the projected kube-api-access token). */
  async #podToken(pod: V1Pod): Promise<string> {
    const node = pod.spec?.nodeName ?? '';
    const agent = await this.#api.agent(`node/${node}`, this.#opts.nodeIdentity(node));
    const sa = pod.spec?.serviceAccountName ?? 'default';
    const res = (await this.#api.request(agent, {
      method: 'POST',
      path: `/api/v1/namespaces/${this.#opts.namespace}/serviceaccounts/${sa}/token`,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          audiences: [],
          expirationSeconds: 3600,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid },
        },
      },
    })) as { status?: { token?: string } };
    const token = res.status?.token;
    if (!token) throw new Error(`TokenRequest for pod ${pod.metadata?.name} returned no token`);
    return token;
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
    await this.#api.request(await this.#api.agent('admin', this.#opts.admin), {
      method: 'PATCH',
      path: `/api/v1/namespaces/${this.#opts.namespace}/pods/${pod.metadata?.name ?? ''}/status`,
      body: { status },
      contentType: MERGE_PATCH,
    });
  }
}
