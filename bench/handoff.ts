// Join handoff latency on loopback: ≥200 joins (hello → ready) against one genesis peer, with
// fake TokenReview / pod lookups (instant), so the figure is protocol + crypto + HTTP.
// Last line: `handoff p50=<ms> p99=<ms> crypto=<ms>` (crypto = median of the same handshake run
// in-process without HTTP, both sides' crypto included).
import { performance } from 'node:perf_hooks';

import { joinColony } from '../src/cell/client.js';
import {
  createHello,
  acceptHello,
  createProof,
  openProof,
  sealSecret,
  openSealed,
  verifyChallenge,
} from '../src/cell/protocol.js';
import { ColonySecret } from '../src/cell/secret.js';
import { parsePublicKey } from '../src/api/identity.js';
import { CellServer } from '../src/cell/server.js';
import { COLONY, FakeCluster } from '../test/unit/cell/fixtures.js';

const JOINS = Number(process.env.JOINS ?? 250);
const WARMUP = 20;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function cryptoOnce(secret: ColonySecret): Promise<number> {
  const expected = parsePublicKey(secret.publicKey);
  const t0 = performance.now();
  const { hello, joiner } = createHello(COLONY.uid);
  const { challenge, session } = acceptHello(hello, secret, COLONY.uid, {
    now: Date.now(),
    remoteAddress: '127.0.0.1',
  });
  const js = verifyChallenge(joiner, challenge, expected);
  openProof(session, createProof(js, 'x'.repeat(1200)));
  const joined = await openSealed(js, await sealSecret(session, secret), expected);
  const t = performance.now() - t0;
  joined.zero();
  return t;
}

async function main(): Promise<void> {
  const secret = ColonySecret.generate('ed25519');
  const cluster = new FakeCluster();
  const server = new CellServer({
    colony: COLONY,
    colonySource: cluster,
    verifier: cluster,
    inspector: cluster,
    self: { node: 'bench', hardened: 'true' },
    secret,
    limits: { hellosPerSecond: 1e6, helloBurst: 1e6, sourceHellosPerSecond: 1e6, sourceHelloBurst: 1e6 },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  const peer = `http://127.0.0.1:${port}`;
  const times: number[] = [];
  for (let i = 0; i < JOINS + WARMUP; i++) {
    const { token, key } = cluster.addJoiner(i);
    const t0 = performance.now();
    const joined = await joinColony({
      peers: [peer],
      colonyUID: COLONY.uid,
      expectedPublicKey: secret.publicKey,
      token: () => token,
      joinKey: key,
    });
    const t = performance.now() - t0;
    if (joined.secret.fingerprint !== secret.fingerprint) throw new Error('wrong secret');
    joined.secret.zero();
    if (i >= WARMUP) times.push(t);
  }
  await server.close();
  const crypto: number[] = [];
  for (let i = 0; i < JOINS; i++) crypto.push(await cryptoOnce(secret));
  times.sort((a, b) => a - b);
  crypto.sort((a, b) => a - b);
  const f = (n: number): string => n.toFixed(2);
  console.log(`joins=${times.length} algorithm=${secret.algorithm} transport=http-loopback verifiers=fake`);
  console.log(
    `handoff min=${f(times[0] ?? NaN)} p90=${f(pct(times, 90))} max=${f(times[times.length - 1] ?? NaN)} ms`,
  );
  console.log(`crypto-only p50=${f(pct(crypto, 50))} p99=${f(pct(crypto, 99))} ms (both sides, in-process)`);
  console.log(`handoff p50=${f(pct(times, 50))} p99=${f(pct(times, 99))} crypto=${f(pct(crypto, 50))}`);
}

await main();
