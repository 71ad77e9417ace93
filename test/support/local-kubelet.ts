// A test harness that plays the kubelet for cell pods on loopback.
//
// It watches pods labelled celula.io/cell-runtime=local (kwok leaves those alone) and, for each pod
// bound to a node, does what a kubelet would:
//   - mints the pod-bound join token (TokenRequest, audience celula.io/join, boundObjectRef = the pod)
//     into a file, and a pod-bound default-audience API token into a kubeconfig file (the projected
//     kube-api-access volume); by default with the NODE's identity (system:node:<node>), so the Node
//     authorizer and NodeRestriction check it exactly as they check a kubelet;
//   - starts `node --disable-sigusr1 dist/src/cell/main.js` (as the cell image must) with the
//     container's env (fieldRefs resolved; POD_IP = the pod's own loopback address 127.x.y.z, which
//     the cell listens on and binds its join connections to) and nothing else from the test's env.
//     A node whose spec.podCIDR is a loopback range (test/cluster addNode podCIDR '127.a.b.0/24') gets
//     its pods' addresses from that range, as a CNI assigns them from node CIDRs (the peers then hold
//     joiners to their node's CIDR: src/cell/checks.ts checkNodePodCIDR); any other node's pods get
//     addresses from this harness's own 127.x block;
//   - reports pod status: Running, podIP, containerStatuses[].imageID carrying the image digest, and
//     a Ready condition that mirrors the process's /readyz;
//   - process exit → pod Failed (terminated state with the exit code); pod deleted → process killed;
//   - nodeDown(node): the machine dies — its cell processes are killed and nothing about its pods is
//     reported any more (a dead kubelet reports nothing: no exit, no readiness).
// Every stdout/stderr line of every process is kept for scanning (lines()).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import {
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1EnvVar,
  type V1Pod,
  type V1PodCondition,
} from '@kubernetes/client-node';

import { JOIN_AUDIENCE } from '../../src/api/types.js';
import { CELL_RUNTIME_LABEL } from '../../src/builders/pod.js';
import { Informer } from '../../src/runtime/informer.js';
import { writeKubeconfig } from '../cluster/kubeconfig.js';

export interface LocalKubeletOptions {
  /** Watches pods and writes their status (a kubelet writes status with its node identity; admin here). */
  admin: KubeConfig;
  server: string;
  caFile: string;
  namespace: string;
  /** Identity that mints a pod's tokens; default the admin. Pass the node's identity to be realistic. */
  tokenIdentity?: (node: string) => KubeConfig;
  /** The cell entry point (default dist/src/cell/main.js under the repository root). */
  cellMain?: string;
  /** Extra env for every cell process (e.g. LOG_LEVEL). */
  env?: Record<string, string>;
}

export interface LocalCell {
  pod: string;
  uid: string;
  node: string;
  ip: string;
  port: number;
  process: ChildProcess;
  dir: string;
  lines: string[];
  exitCode: number | null | undefined;
  ready: boolean;
}

/** Pods with this label (value `manual`) are left alone: a test drives their status itself. */
export const MANUAL_LABEL = 'celula.io/harness';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Loopback block per harness instance: 127.<rand>.<hi>.<lo>, so concurrent runs rarely collide. */
/** Env var fixing the second octet of a harness's loopback block (100–249); else it is random. */
export const LOOPBACK_BLOCK_ENV = 'CELULA_LOOPBACK_BLOCK';

/** Distinct blocks for harnesses side by side (chaos shards): 37 and 150 are coprime. */
export function shardLoopbackBlock(i: number): number {
  return 100 + ((i * 37) % 150);
}

function loopbackBlock(): number {
  const fixed = Number(process.env[LOOPBACK_BLOCK_ENV]);
  return Number.isInteger(fixed) && fixed >= 100 && fixed < 250
    ? fixed
    : 100 + Math.floor(Math.random() * 150);
}

function loopbackAllocator(): () => string {
  const second = loopbackBlock();
  let n = 0;
  return () => {
    n += 1;
    return `127.${second}.${Math.floor(n / 250)}.${(n % 250) + 2}`;
  };
}

/** The `n`th address (n >= 1) of an IPv4 loopback CIDR, skipping its network and first address. */
export function nthAddressIn(cidr: string, n: number): string {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new Error(`local-kubelet: pod CIDR ${cidr} is not an IPv4 loopback CIDR`);
  const bits = Number(m[4]);
  const base = ((127 << 24) | (Number(m[1]) << 16) | (Number(m[2]) << 8) | Number(m[3])) >>> 0;
  const size = 2 ** (32 - bits);
  if (n + 1 >= size - 1) throw new Error(`local-kubelet: pod CIDR ${cidr} has no address #${n} left`);
  const ip = (base & ~(size - 1)) + n + 1;
  return [24, 16, 8, 0].map((shift) => (ip >>> shift) & 255).join('.');
}

const isLoopbackCIDR = (cidr: string | undefined): cidr is string => cidr?.startsWith('127.') === true;

function fieldValue(pod: V1Pod, fieldPath: string, podIP: string | undefined): string {
  const values: Record<string, string | undefined> = {
    'status.podIP': podIP,
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
  };
  const v = values[fieldPath];
  if (v === undefined) throw new Error(`local-kubelet: unsupported fieldRef ${fieldPath}`);
  return v;
}

/** The container's env with fieldRefs resolved (other valueFrom kinds are not used by cell pods). */
export function resolveEnv(pod: V1Pod, env: V1EnvVar[] = [], podIP?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const ref = e.valueFrom?.fieldRef?.fieldPath;
    out[e.name] = ref !== undefined ? fieldValue(pod, ref, podIP) : (e.value ?? '');
  }
  return out;
}

function condition(type: string, ok: boolean, now: string): V1PodCondition {
  return { type, status: ok ? 'True' : 'False', lastTransitionTime: now as unknown as Date };
}

export class LocalKubelet {
  readonly #opts: LocalKubeletOptions;
  readonly #core: CoreV1Api;
  readonly #informer: Informer<V1Pod>;
  readonly #cells = new Map<string, LocalCell>();
  readonly #nextIP = loopbackAllocator();
  /** Addresses handed out per node pod CIDR (loopback CIDRs only). */
  readonly #inCIDR = new Map<string, number>();
  readonly #allLines: string[] = [];
  #poll: NodeJS.Timeout | undefined;
  #queue: Promise<void> = Promise.resolve();
  #hold: ((pod: V1Pod) => boolean) | undefined;
  readonly #downNodes = new Set<string>();
  /** Nodes whose machine "died" (loseNode): nothing on them is launched, probed or reported again. */
  readonly #lostNodes = new Set<string>();
  /** Nodes cut off from the API server: their status reports wait (partition()). */
  readonly #cut = new Set<string>();
  readonly #heldStatus = new Map<string, { pod: V1Pod; status: object }>();
  /** Pods whose readiness probe fails (failProbes()). */
  readonly #probeFailing = new Set<string>();

  constructor(opts: LocalKubeletOptions) {
    this.#opts = opts;
    this.#core = opts.admin.makeApiClient(CoreV1Api);
    this.#informer = new Informer<V1Pod>({
      kubeConfig: opts.admin,
      path: `/api/v1/namespaces/${opts.namespace}/pods`,
      labelSelector: `${CELL_RUNTIME_LABEL}=local`,
    });
    this.#informer.onChange((pod) => this.#enqueue(() => this.#sync(pod)));
  }

  async start(): Promise<void> {
    this.#informer.start();
    await this.#informer.waitForSync(30_000);
    for (const pod of this.#informer.list()) this.#enqueue(() => this.#sync(pod));
    this.#poll = setInterval(() => void this.#probeAll(), 200);
  }

  async stop(): Promise<void> {
    clearInterval(this.#poll);
    await this.#informer.stop();
    for (const c of this.#cells.values()) this.#killProcess(c, 'SIGKILL');
    await this.#queue;
  }

  /**
   * Pods matching `predicate` (checked when a pod would be launched) are left alone, like MANUAL_LABEL
   * pods: a test plays their process itself. undefined stops holding.
   */
  hold(predicate: ((pod: V1Pod) => boolean) | undefined): void {
    this.#hold = predicate;
  }

  /** A fresh loopback address from this harness's block (for a pod whose process a test plays). */
  allocateIP(): string {
    return this.#nextIP();
  }

  /**
   * A fresh address for a pod on `node`: from the node's spec.podCIDR when that is a loopback range,
   * else from this harness's block (allocateIP).
   */
  async allocateIPOn(node: string): Promise<string> {
    const n = await this.#core.readNode({ name: node }).catch(() => undefined);
    const cidr = n?.spec?.podCIDRs?.[0] ?? n?.spec?.podCIDR;
    if (!isLoopbackCIDR(cidr)) return this.#nextIP();
    const next = (this.#inCIDR.get(cidr) ?? 0) + 1;
    this.#inCIDR.set(cidr, next);
    return nthAddressIn(cidr, next);
  }

  cells(): LocalCell[] {
    return [...this.#cells.values()];
  }

  cell(pod: string): LocalCell | undefined {
    return this.#cells.get(pod);
  }

  /** Every captured line, prefixed `<pod>: `. */
  lines(): string[] {
    return [...this.#allLines];
  }

  url(pod: string): string {
    const c = this.#cells.get(pod);
    if (!c) throw new Error(`no local cell for pod ${pod}`);
    return `http://${c.ip}:${c.port}`;
  }

  /** Stops (SIGSTOP) or continues (SIGCONT) every running cell process: a stall, not a death. */
  stallAll(stalled: boolean): void {
    for (const c of this.#cells.values())
      if (c.exitCode === undefined) c.process.kill(stalled ? 'SIGSTOP' : 'SIGCONT');
  }

  /**
   * The node's machine dies: its cell processes are SIGKILLed and, as with a dead kubelet, nothing
   * about its pods is reported from now on (no exit status, no readiness). Only proof (the Node
   * deleted, the out-of-service taint, a force-delete) can then tell the control plane.
   */
  nodeDown(node: string): void {
    this.#downNodes.add(node);
    for (const c of this.#cells.values()) if (c.node === node) this.#killProcess(c, 'SIGKILL');
  }

  /** Stops (SIGSTOP) or continues (SIGCONT) the named cells' processes. */
  stall(pods: string[], stalled: boolean): void {
    for (const pod of pods) {
      const c = this.#cells.get(pod);
      if (c && c.exitCode === undefined) c.process.kill(stalled ? 'SIGSTOP' : 'SIGCONT');
    }
  }

  /**
   * Cuts node `node` off from the API server (`cut` true) or reconnects it, as a network partition
   * between a kubelet and the API server would: its cells keep running, their status reports and
   * the pod deletions it would act on wait until it is reconnected, then it catches up.
   */
  partition(node: string, cut: boolean): void {
    if (cut) {
      this.#cut.add(node);
      return;
    }
    this.#cut.delete(node);
    for (const [name, held] of [...this.#heldStatus]) {
      if (held.pod.spec?.nodeName !== node) continue;
      this.#heldStatus.delete(name);
      this.#enqueue(() => this.#patchStatus(held.pod, held.status));
    }
    for (const c of this.#cells.values())
      if (c.node === node) this.#enqueue(() => this.#sync({ metadata: { name: c.pod } }));
  }

  /** Makes the named pods' readiness probes fail (the process keeps running) or pass again. */
  failProbes(pods: string[], failing: boolean): void {
    for (const pod of pods) {
      if (failing) this.#probeFailing.add(pod);
      else this.#probeFailing.delete(pod);
    }
  }

  /** Kills a cell's process (as a crash would): the pod turns Failed. */
  kill(pod: string, signal: NodeJS.Signals = 'SIGKILL'): void {
    const c = this.#cells.get(pod);
    if (c) this.#killProcess(c, signal);
  }

  /**
   * The machine `node` dies: its cell processes are SIGKILLed and, since its kubelet died with it,
   * nothing is ever reported for its pods again (no exit status, no readiness, no launches). The
   * control plane learns of it only from the node's silence (stop its kwok heartbeat too).
   */
  loseNode(node: string): void {
    this.#lostNodes.add(node);
    for (const c of this.#cells.values()) if (c.node === node) this.#killProcess(c, 'SIGKILL');
  }

  /**
   * The machine `node` is back (rebooted): its kubelet runs again and reports the containers that
   * died with the machine as terminated (pod Failed), and launches new pods bound to it again.
   */
  restoreNode(node: string): void {
    this.#lostNodes.delete(node);
    for (const c of this.#cells.values()) {
      const pod = this.#informer.get(this.#opts.namespace, c.pod);
      if (c.node !== node || c.exitCode === undefined || pod?.metadata?.uid !== c.uid) continue;
      this.#enqueue(() => this.#reportExit(pod, c, 'SIGKILL'));
    }
  }

  /**
   * Mints a fresh pod-bound token for a pod (the way the harness does for the cell itself). Retries
   * 403s for a few seconds: the Node authorizer learns a new pod → service account edge from its own
   * informer, a moment after the pod is created.
   */
  async mintToken(pod: V1Pod, audiences: string[], expirationSeconds = 3600): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#mint(pod, audiences, expirationSeconds);
      } catch (err) {
        if ((err as { code?: number }).code !== 403 || attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async #mint(pod: V1Pod, audiences: string[], expirationSeconds: number): Promise<string> {
    const node = pod.spec?.nodeName ?? '';
    const kc = this.#opts.tokenIdentity?.(node) ?? this.#opts.admin;
    const res = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      name: pod.spec?.serviceAccountName ?? 'default',
      namespace: pod.metadata?.namespace ?? '',
      body: {
        spec: {
          audiences,
          expirationSeconds,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid },
        },
      },
    });
    const token = res.status?.token;
    if (!token) throw new Error(`TokenRequest for pod ${pod.metadata?.name} returned no token`);
    return token;
  }

  #enqueue(fn: () => Promise<void>): void {
    this.#queue = this.#queue.then(fn).catch((err: unknown) => {
      this.#allLines.push(
        `local-kubelet: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
      );
    });
  }

  async #sync(seen: V1Pod): Promise<void> {
    const name = seen.metadata?.name ?? '';
    const live = this.#informer.get(this.#opts.namespace, name);
    const known = this.#cells.get(name);
    if (known && this.#cut.has(known.node)) return; // partitioned: the kubelet cannot see it yet
    if (
      known &&
      (live === undefined || live.metadata?.uid !== known.uid || live.metadata?.deletionTimestamp)
    ) {
      this.#killProcess(known, 'SIGKILL');
      return;
    }
    if (known || live === undefined || live.metadata?.deletionTimestamp) return;
    if (live.metadata?.labels?.[MANUAL_LABEL] === 'manual' || this.#hold?.(live) === true) return;
    const phase = live.status?.phase;
    if (this.#downNodes.has(live.spec?.nodeName ?? '')) return;
    if (!live.spec?.nodeName || phase === 'Failed' || phase === 'Succeeded' || phase === 'Running') return;
    if (this.#lostNodes.has(live.spec.nodeName)) return;
    await this.#launch(live);
  }

  async #launch(pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name ?? '';
    const container = pod.spec?.containers[0];
    if (!container) return;
    const dir = mkdtempSync(path.join(tmpdir(), `celula-cell-${name}-`));
    const joinFile = path.join(dir, 'join-token');
    writeFileSync(joinFile, await this.mintToken(pod, [JOIN_AUDIENCE]), { mode: 0o600 });
    const kubeconfig = writeKubeconfig(path.join(dir, 'kubeconfig'), {
      server: this.#opts.server,
      caFile: this.#opts.caFile,
      userName: 'cell',
      user: { token: await this.mintToken(pod, []) },
    });
    const ip = await this.allocateIPOn(pod.spec?.nodeName ?? '');
    const env: Record<string, string> = {
      ...resolveEnv(pod, container.env, ip),
      CELULA_JOIN_TOKEN: joinFile,
      CELULA_LISTEN: ip,
      KUBECONFIG: kubeconfig,
      ...this.#opts.env,
    };
    const main = this.#opts.cellMain ?? path.resolve('dist/src/cell/main.js');
    // As a hardened node runs a cell: core dumps off (RLIMIT_CORE 0, set by the shell, which Node
    // cannot do) and `node --disable-sigusr1`; a cell refuses to hold the secret otherwise (hygiene.ts).
    const argv = ['-c', 'ulimit -c 0 && exec "$0" "$@"', process.execPath, '--disable-sigusr1', main];
    const child = spawn('/bin/sh', argv, {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const cell: LocalCell = {
      pod: name,
      uid: pod.metadata?.uid ?? '',
      node: pod.spec?.nodeName ?? '',
      ip,
      port: Number(env.CELULA_PORT ?? '8443'),
      process: child,
      dir,
      lines: [],
      exitCode: undefined,
      ready: false,
    };
    this.#cells.set(name, cell);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        cell.lines.push(line);
        this.#allLines.push(`${name}: ${line}`);
      });
    }
    child.on('exit', (code, signal) => {
      cell.exitCode = code ?? (signal ? 128 + 9 : null);
      cell.ready = false;
      rmSync(dir, { recursive: true, force: true });
      if (!this.#lostNodes.has(cell.node)) this.#enqueue(() => this.#reportExit(pod, cell, signal));
    });
    await this.#patchStatus(pod, this.#runningStatus(pod, cell));
  }

  #killProcess(cell: LocalCell, signal: NodeJS.Signals): void {
    if (cell.exitCode === undefined) cell.process.kill(signal);
  }

  #containerStatus(pod: V1Pod, cell: LocalCell, state: object): object {
    const image = pod.spec?.containers[0]?.image ?? '';
    return {
      name: pod.spec?.containers[0]?.name ?? 'cell',
      image,
      imageID: `docker-pullable://${image}`,
      containerID: `local://${cell.process.pid ?? 0}`,
      ready: cell.ready,
      started: cell.exitCode === undefined,
      restartCount: 0,
      state,
    };
  }

  #runningStatus(pod: V1Pod, cell: LocalCell): object {
    const now = new Date().toISOString();
    return {
      phase: 'Running',
      hostIP: cell.ip,
      podIP: cell.ip,
      podIPs: [{ ip: cell.ip }],
      startTime: now,
      conditions: [
        condition('PodScheduled', true, now),
        condition('Initialized', true, now),
        condition('ContainersReady', cell.ready, now),
        condition('Ready', cell.ready, now),
      ],
      containerStatuses: [this.#containerStatus(pod, cell, { running: { startedAt: now } })],
    };
  }

  async #reportExit(pod: V1Pod, cell: LocalCell, signal: NodeJS.Signals | null): Promise<void> {
    if (this.#downNodes.has(cell.node)) return;
    const now = new Date().toISOString();
    const terminated = {
      exitCode: cell.exitCode ?? 137,
      reason: signal ? `Killed (${signal})` : cell.exitCode === 0 ? 'Completed' : 'Error',
      finishedAt: now,
    };
    await this.#patchStatus(pod, {
      phase: cell.exitCode === 0 && !signal ? 'Succeeded' : 'Failed',
      conditions: [condition('Ready', false, now), condition('ContainersReady', false, now)],
      containerStatuses: [this.#containerStatus(pod, cell, { terminated })],
    }).catch(() => undefined); // the pod may be gone already
  }

  async #probeAll(): Promise<void> {
    for (const cell of this.#cells.values()) {
      if (cell.exitCode !== undefined || this.#downNodes.has(cell.node) || this.#lostNodes.has(cell.node))
        continue;
      const ready = this.#probeFailing.has(cell.pod)
        ? false
        : await fetch(`http://${cell.ip}:${cell.port}/readyz`, { signal: AbortSignal.timeout(500) })
            .then((r) => r.status === 200)
            .catch(() => false);
      if (cell.exitCode !== undefined || this.#lostNodes.has(cell.node)) continue;
      const pod = this.#informer.get(this.#opts.namespace, cell.pod);
      // Like a kubelet's status manager, re-assert readiness when the pod says otherwise (the node
      // lifecycle controller marks pods NotReady when it stops hearing their node).
      const podSays =
        pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      if (ready === cell.ready && (podSays === ready || pod?.metadata?.deletionTimestamp)) continue;
      cell.ready = ready;
      if (pod && pod.metadata?.uid === cell.uid)
        this.#enqueue(() => this.#patchStatus(pod, this.#runningStatus(pod, cell)));
    }
  }

  async #patchStatus(pod: V1Pod, status: object): Promise<void> {
    if (this.#cut.has(pod.spec?.nodeName ?? '')) {
      this.#heldStatus.set(pod.metadata?.name ?? '', { pod, status });
      return;
    }
    await this.#core.patchNamespacedPodStatus(
      { name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', body: { status } },
      mergePatch,
    );
  }
}
