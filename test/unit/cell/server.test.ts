// Full handshakes genesis → joiner over real HTTP on loopback, with real crypto. Only the
// Kubernetes lookups (TokenReview, pod/cell/node GETs) are test doubles (FakeCluster).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';

import { ALGORITHMS, LABELS, type Algorithm } from '../../../src/api/types.js';
import { verifyAttestation, type SignedAttestation } from '../../../src/cell/attest.js';
import { JoinFailed, joinColony } from '../../../src/cell/client.js';
import { JoinRefused } from '../../../src/cell/errors.js';
import { parseChallenge, parseSealed, type SealedMessage } from '../../../src/cell/messages.js';
import {
  createHello,
  createJoinKey,
  createProof,
  openSealed,
  verifyChallenge,
  type JoinKey,
} from '../../../src/cell/protocol.js';
import { ColonySecret } from '../../../src/cell/secret.js';
import { parsePublicKey } from '../../../src/api/identity.js';
import { CellServer, type ServerLimits } from '../../../src/cell/server.js';
import { COLONY, COLONY_OBJECT, FakeCluster } from './fixtures.js';

interface Peer {
  url: string;
  server: CellServer;
  cluster: FakeCluster;
  secret: ColonySecret;
}

const peers: CellServer[] = [];
/** Every test client connects from 127.0.0.1: most tests lift the per-source limits (tested below). */
const LOOSE_SOURCE_LIMITS = { sourceHellosPerSecond: 1000, sourceHelloBurst: 1000, maxSessionsPerSource: 64 };

async function startPeer(
  algorithm: Algorithm = 'ed25519',
  secret = ColonySecret.generate(algorithm),
  now?: () => number,
  limits: Partial<ServerLimits> = LOOSE_SOURCE_LIMITS,
): Promise<Peer> {
  const cluster = new FakeCluster();
  const server = new CellServer({
    colony: COLONY,
    colonySource: cluster,
    verifier: cluster,
    inspector: cluster,
    self: { node: 'node-a', hardened: 'true' },
    secret,
    now,
    limits,
  });
  const addr = await server.listen(0, '127.0.0.1');
  peers.push(server);
  return { url: `http://127.0.0.1:${addr.port}`, server, cluster, secret };
}

afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
});

function secretForms(secret: ColonySecret): string[] {
  const raw = ColonySecret.withRawBytes(secret, (b) => Buffer.from(b));
  return [raw.toString('hex'), raw.toString('base64'), raw.toString('base64url')];
}

/** POST from `localAddress` (default 127.0.0.1; any 127.x address works on Linux loopback). */
function post(
  url: string,
  body: unknown,
  localAddress = '127.0.0.1',
): Promise<{ status: number; text: string; json: unknown }> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(parsed(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function parsed(status: number, text: string): { status: number; text: string; json: unknown } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, text, json };
}

interface RawJoinOptions {
  /** The key of the hello; default the one the token's joiner published. */
  key?: JoinKey;
  helloFrom?: string;
  proofFrom?: string;
}

/** One handshake by hand, returning the raw answer to the proof. */
async function rawJoin(peer: Peer, token: string, o: RawJoinOptions = {}) {
  const { hello, joiner } = createHello(COLONY.uid, o.key ?? peer.cluster.keys.get(token));
  const challenge = parseChallenge((await post(`${peer.url}/join/hello`, hello, o.helloFrom)).json);
  const session = verifyChallenge(joiner, challenge, parsePublicKey(peer.secret.publicKey));
  const answer = await post(`${peer.url}/join/proof`, createProof(session, token), o.proofFrom);
  return { session, answer };
}

describe('a joiner refused for a passing reason', () => {
  it('may try the same peer again with the same token and join key, and gets the secret', async () => {
    const peer = await startPeer('ed25519');
    const j = peer.cluster.addJoiner(31);
    const status = j.facts.pod.status!;
    const { podIP, podIPs } = status;
    status.podIP = undefined; // its pod has no IP yet
    status.podIPs = undefined;
    const first = await rawJoin(peer, j.token);
    expect(first.answer.status).toBe(403);
    expect(first.answer.text).toMatch(/no IP yet/);
    status.podIP = podIP;
    status.podIPs = podIPs;
    const again = await rawJoin(peer, j.token);
    expect(again.answer.status).toBe(200);
  });
});

describe.each(ALGORITHMS)('join handshake (%s)', (algorithm) => {
  it('hands the secret to a verified joiner, who rebuilds the same colony key', async () => {
    const peer = await startPeer(algorithm);
    const { token, key } = peer.cluster.addJoiner(1);
    const { secret, peer: used } = await joinColony({
      peers: [peer.url],
      colonyUID: COLONY.uid,
      expectedPublicKey: peer.secret.publicKey,
      token: () => token,
      joinKey: key,
      localAddress: '127.0.0.1',
    });
    expect(used).toBe(peer.url);
    expect(secret.publicKey).toBe(peer.secret.publicKey);
    expect(secret.fingerprint).toBe(peer.secret.fingerprint);
    const sig = secret.sign(Buffer.from('m'));
    expect(peer.secret.verify(Buffer.from('m'), sig)).toBe(true);
    expect(peer.server.sessionCount).toBe(0);
  });
});

describe('attacks are refused with a clear reason and no secret bytes', () => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPeer('secp256k1');
  });

  type Setup = (p: Peer) => Promise<string> | string;
  const cases: [string, Setup, number, string, RegExp][] = [
    ['unauthenticated token', () => 'not-a-real-token', 403, 'token-rejected', /token is not authenticated/],
    [
      'wrong audience',
      (p) => {
        const j = p.cluster.addJoiner(10);
        j.tokenFacts.audiences = ['https://kubernetes.default.svc'];
        return j.token;
      },
      403,
      'audience',
      /token audience is https:\/\/kubernetes.default.svc, want celula.io\/join/,
    ],
    [
      'replayed token (same JTI, another join key)',
      async (p) => {
        const j = p.cluster.addJoiner(11);
        const first = await rawJoin(p, j.token, { key: createJoinKey() });
        expect(first.answer.status).toBe(403); // its key is not the one the pod published
        return j.token; // now with the pod's own key: the token was burned for another key
      },
      403,
      'replay',
      /was already used/,
    ],
    [
      'pod of a cell in another colony',
      (p) => {
        const j = p.cluster.addJoiner(12);
        j.facts.cell!.metadata!.ownerReferences![0]!.uid = 'another-colony-uid';
        return j.token;
      },
      403,
      'not-a-cell',
      /belongs to colony uid another-colony-uid/,
    ],
    [
      'pod that is not a cell',
      (p) => {
        const j = p.cluster.addJoiner(13);
        j.facts.pod.metadata!.ownerReferences = [];
        return j.token;
      },
      403,
      'not-a-cell',
      /no controller owner of kind Cell/,
    ],
    [
      'different image digest',
      (p) => {
        const j = p.cluster.addJoiner(14);
        j.facts.pod.spec!.containers[0]!.image = `registry.example/evil@sha256:${'ee'.repeat(32)}`;
        return j.token;
      },
      403,
      'image',
      /registry.example\/evil/,
    ],
    [
      'node without the hardened label',
      (p) => {
        const j = p.cluster.addJoiner(15);
        delete j.facts.nodeLabels![LABELS.hardened];
        return j.token;
      },
      403,
      'node-not-hardened',
      /node lacks label/,
    ],
    [
      'token of a deleted-and-recreated pod (uid mismatch)',
      (p) => {
        const j = p.cluster.addJoiner(16);
        j.facts.pod.metadata!.uid = 'new-uid';
        return j.token;
      },
      403,
      'pod-identity',
      /token is bound to pod uid/,
    ],
    [
      'privileged joiner',
      (p) => {
        const j = p.cluster.addJoiner(17);
        j.facts.pod.spec!.containers[0]!.securityContext!.privileged = true;
        return j.token;
      },
      403,
      'security-context',
      /is privileged/,
    ],
    [
      'terminating pod',
      (p) => {
        const j = p.cluster.addJoiner(18);
        j.facts.pod.metadata!.deletionTimestamp = '2024-01-01T00:00:00Z';
        return j.token;
      },
      403,
      'terminating',
      /terminating/,
    ],
    [
      'pod not found',
      (p) => {
        const j = p.cluster.addJoiner(19);
        p.cluster.pods.clear();
        return j.token;
      },
      403,
      'pod-not-found',
      /was not found/,
    ],
    [
      'pod whose IPs are not the connection source (token used from elsewhere)',
      (p) => {
        const j = p.cluster.addJoiner(21);
        j.facts.pod.status!.podIPs = [{ ip: '10.1.2.3' }];
        j.facts.pod.status!.podIP = '10.1.2.3';
        return j.token;
      },
      403,
      'source-address',
      /connection comes from 127.0.0.1, not from the pod's IPs 10.1.2.3/,
    ],
    [
      'extra env NODE_OPTIONS in the pod spec',
      (p) => {
        const j = p.cluster.addJoiner(22);
        const c = j.facts.pod.spec!.containers[0] as { env?: object[] };
        c.env = [...(c.env ?? []), { name: 'NODE_OPTIONS', value: '--inspect=0.0.0.0:9229' }];
        return j.token;
      },
      403,
      'spec-mismatch',
      /^pod spec.containers\[cell\].env\[NODE_OPTIONS\] is not in the pod the operator builds/,
    ],
    [
      'pod of an Alive cell',
      (p) => {
        const j = p.cluster.addJoiner(23);
        j.facts.cell!.status!.phase = 'Alive';
        return j.token;
      },
      403,
      'not-a-joiner',
      /lottery-cell-23 is Alive/,
    ],
    [
      'pod of a cell that already reported a public key',
      (p) => {
        const j = p.cluster.addJoiner(24);
        j.facts.cell!.status!.publicKey = p.secret.publicKey;
        return j.token;
      },
      403,
      'not-a-joiner',
      /already reported a public key/,
    ],
    [
      'pod that is not the incarnation its Cell records',
      (p) => {
        const j = p.cluster.addJoiner(25);
        j.facts.cell!.status!.podUID = 'older-pod';
        return j.token;
      },
      403,
      'not-a-joiner',
      /records pod uid older-pod, the token is for pod-uid-25/,
    ],
    [
      'cell that published no join key',
      (p) => {
        const j = p.cluster.addJoiner(26);
        delete j.facts.cell!.status!.joinKey;
        return j.token;
      },
      403,
      'join-key',
      /has published no join key/,
    ],
    [
      'hello with another key than the published join key',
      (p) => {
        const j = p.cluster.addJoiner(27);
        p.cluster.keys.set(j.token, createJoinKey()); // the test's hello uses a key never published
        return j.token;
      },
      403,
      'join-key',
      /is not the join key Cell lottery-cell-27 published/,
    ],
    [
      'node without the hardened label, colony switched to unhardened after start',
      (p) => {
        const j = p.cluster.addJoiner(28);
        delete j.facts.nodeLabels![LABELS.hardened];
        p.cluster.colonyObject.spec.nodes = { provider: 'unhardened' };
        return j.token;
      },
      403,
      'node-not-hardened',
      /node lacks label/,
    ],
  ];

  it.each(cases)('%s', async (_name, setup, status, code, reason) => {
    // The token's JTI was registered before the mutation for some cases; mutations go to the
    // stored objects (FakeCluster clones on read).
    peer.cluster.colonyObject = structuredClone(COLONY_OBJECT);
    const token = await setup(peer);
    const { answer } = await rawJoin(peer, token);
    expect(answer.status).toBe(status);
    expect(answer.json).toEqual({ error: { code, reason: expect.stringMatching(reason) } });
    expect(answer.text).not.toMatch(/ciphertext|"enc"/);
    for (const f of secretForms(peer.secret)) expect(answer.text).not.toContain(f);
    expect(answer.text).not.toContain(token);
  });

  it('the client surfaces the refusal', async () => {
    const j = peer.cluster.addJoiner(20);
    j.tokenFacts.audiences = ['wrong'];
    const join = joinColony({
      peers: [peer.url],
      colonyUID: COLONY.uid,
      expectedPublicKey: peer.secret.publicKey,
      token: () => j.token,
    });
    await expect(join).rejects.toThrow(JoinFailed);
    await expect(join).rejects.toMatchObject({
      attempts: [{ code: 'audience', reason: expect.stringMatching(/want celula.io\/join/) }],
    });
  });
});

describe('forged peer and tampering (joiner side)', () => {
  it('refuses a peer without the colony key and never sends it the token', async () => {
    const real = await startPeer('ed25519');
    const forged = await startPeer('ed25519'); // a different secret
    const { token } = forged.cluster.addJoiner(1);
    let tokenReads = 0;
    const join = joinColony({
      peers: [forged.url],
      colonyUID: COLONY.uid,
      expectedPublicKey: real.secret.publicKey,
      token: () => {
        tokenReads += 1;
        return token;
      },
    });
    await expect(join).rejects.toMatchObject({
      attempts: [
        {
          code: 'peer-not-authentic',
          reason: expect.stringMatching(/does not verify with the colony public key/),
        },
      ],
    });
    expect(tokenReads).toBe(0);
    expect(forged.cluster.verified).toEqual([]);
    expect(forged.server.sessionCount).toBe(1); // it got a hello, never a proof
  });

  it('tries peers in turn: unreachable, forged, then a real one', async () => {
    const real = await startPeer('aes-256');
    const forged = await startPeer('aes-256');
    const { token, key } = real.cluster.addJoiner(2);
    const { secret, peer } = await joinColony({
      peers: ['http://127.0.0.1:1', forged.url, real.url],
      colonyUID: COLONY.uid,
      expectedPublicKey: real.secret.publicKey,
      token: () => token,
      joinKey: key,
      timeoutMs: 2000,
    });
    expect(peer).toBe(real.url);
    expect(secret.fingerprint).toBe(real.secret.fingerprint);
  });

  it('refuses a tampered or misdirected sealed secret', async () => {
    const peer = await startPeer('ed25519');
    const expected = parsePublicKey(peer.secret.publicKey);
    const a = await rawJoin(peer, peer.cluster.addJoiner(3).token);
    const sealed = parseSealed(a.answer.json);
    const ct = Buffer.from(sealed.ciphertext, 'base64');
    ct[5] = (ct[5] ?? 0) ^ 0x01;
    const tampered: SealedMessage = { ...sealed, ciphertext: ct.toString('base64') };
    await expect(openSealed(a.session, tampered, expected)).rejects.toMatchObject({ code: 'seal-invalid' });
    // the untampered box opens
    expect((await openSealed(a.session, sealed, expected)).fingerprint).toBe(peer.secret.fingerprint);
    // a box sealed for another session does not open in this one
    const b = await rawJoin(peer, peer.cluster.addJoiner(4).token);
    const other = { ...parseSealed(b.answer.json), sessionId: a.session.sessionId };
    await expect(openSealed(a.session, other, expected)).rejects.toMatchObject({ code: 'seal-invalid' });
  });

  it('refuses a secret whose public key is not the colony key', async () => {
    const peer = await startPeer('ed25519');
    const a = await rawJoin(peer, peer.cluster.addJoiner(5).token);
    const sealed = parseSealed(a.answer.json);
    // Same session, but the joiner expects a different colony key of the same algorithm: the
    // challenge check would already fail; here we test the last line of defence directly.
    const wrong = parsePublicKey(ColonySecret.generate('ed25519').publicKey);
    await expect(openSealed(a.session, sealed, wrong)).rejects.toMatchObject({ code: 'public-key-mismatch' });
  });
});

describe('malformed and oversized input', () => {
  let peer: Peer;
  let clock = 1_000_000;
  beforeAll(async () => {
    peer = await startPeer('ed25519', undefined, () => clock);
  });
  const hello = () => createHello(COLONY.uid).hello;

  it.each<[string, string, unknown, number, RegExp]>([
    ['oversized body', '/join/hello', 'x'.repeat(20 * 1024), 413, /exceeds 16384 bytes/],
    ['invalid JSON', '/join/hello', '{"v":1,', 400, /not valid JSON/],
    ['empty body', '/join/proof', '', 400, /empty/],
    ['array', '/join/hello', [], 400, /hello must be a JSON object/],
    ['wrong version', '/join/hello', { ...hello(), v: 2 }, 400, /hello.v must be 1/],
    [
      'short ephemeral key',
      '/join/hello',
      { ...hello(), ephemeralPub: Buffer.alloc(31).toString('base64') },
      400,
      /ephemeralPub must/,
    ],
    [
      'non-base64 nonce',
      '/join/hello',
      { ...hello(), nonce: '!'.repeat(44) },
      400,
      /nonce must be a base64 string of 32 bytes/,
    ],
    [
      'bad uid',
      '/join/hello',
      { ...hello(), colonyUID: '../../etc' },
      400,
      /colonyUID must be a Kubernetes uid/,
    ],
    ['wrong colony', '/join/hello', { ...hello(), colonyUID: 'another-colony' }, 403, /serves colony uid/],
    [
      'unknown session',
      '/join/proof',
      { v: 1, sessionId: randomBytes(16).toString('base64'), tokenBox: randomBytes(64).toString('base64') },
      404,
      /unknown or already used session/,
    ],
    [
      'huge token box',
      '/join/proof',
      { v: 1, sessionId: randomBytes(16).toString('base64'), tokenBox: randomBytes(9000).toString('base64') },
      400,
      /tokenBox must/,
    ],
    ['attest without nonce', '/attest', {}, 400, /nonce must/],
  ])('%s → %i', async (_n, path, body, status, reason) => {
    const r = await post(`${peer.url}${path}`, body);
    expect(r.status).toBe(status);
    expect((r.json as { error: { reason: string } }).error.reason).toMatch(reason);
    expect((await fetch(`${peer.url}/healthz`)).status).toBe(200);
  });

  it('sessions are single-use and expire', async () => {
    const { token } = peer.cluster.addJoiner(1);
    const a = await rawJoin(peer, token);
    expect(a.answer.status).toBe(200);
    const again = await post(`${peer.url}/join/proof`, createProof(a.session, token));
    expect(again.status).toBe(404);

    const { hello: h, joiner } = createHello(COLONY.uid);
    const challenge = parseChallenge((await post(`${peer.url}/join/hello`, h)).json);
    const session = verifyChallenge(joiner, challenge, parsePublicKey(peer.secret.publicKey));
    clock += 60_000;
    const late = await post(`${peer.url}/join/proof`, createProof(session, peer.cluster.addJoiner(2).token));
    expect(late.status).toBe(410);
    expect(late.text).toMatch(/session expired/);
  });

  it('a proof that does not decrypt is refused without reaching the token verifier', async () => {
    const { hello: h } = createHello(COLONY.uid);
    const challenge = parseChallenge((await post(`${peer.url}/join/hello`, h)).json);
    const before = peer.cluster.verified.length;
    const r = await post(`${peer.url}/join/proof`, {
      v: 1,
      sessionId: challenge.sessionId,
      tokenBox: randomBytes(100).toString('base64'),
    });
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/does not decrypt/);
    expect(peer.cluster.verified.length).toBe(before);
  });

  it('limits open sessions and hello rate', async () => {
    const small = new CellServer({
      colony: COLONY,
      colonySource: peer.cluster,
      verifier: peer.cluster,
      inspector: peer.cluster,
      self: { node: 'n', hardened: null },
      secret: peer.secret,
      limits: { maxSessions: 2, helloBurst: 100 },
    });
    const addr = await small.listen(0, '127.0.0.1');
    peers.push(small);
    const url = `http://127.0.0.1:${addr.port}/join/hello`;
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await post(url, hello())).status);
    expect(codes).toEqual([200, 200, 429]);
  });

  it('limits hellos and open sessions per source address; other addresses still get through', async () => {
    const limited = new CellServer({
      colony: COLONY,
      colonySource: peer.cluster,
      verifier: peer.cluster,
      inspector: peer.cluster,
      self: { node: 'n', hardened: null },
      secret: peer.secret,
      limits: { sourceHelloBurst: 2, sourceHellosPerSecond: 0.001, maxSessionsPerSource: 10 },
    });
    const addr = await limited.listen(0, '127.0.0.1');
    peers.push(limited);
    const url = `http://127.0.0.1:${addr.port}/join/hello`;
    const from1 = [];
    for (let i = 0; i < 3; i++) from1.push(await post(url, hello(), '127.0.0.1'));
    expect(from1.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(from1[2]!.text).toMatch(/too many join attempts from this address/);
    expect((await post(url, hello(), '127.0.0.2')).status).toBe(200);
    // ::ffff:127.0.0.3 and 127.0.0.3 are one source (an IPv4 peer seen through a dual-stack socket)
    const few = new CellServer({
      colony: COLONY,
      colonySource: peer.cluster,
      verifier: peer.cluster,
      inspector: peer.cluster,
      self: { node: 'n', hardened: null },
      secret: peer.secret,
      limits: { maxSessionsPerSource: 1 },
    });
    const a2 = await few.listen(0, '::');
    peers.push(few);
    const url2 = `http://127.0.0.1:${a2.port}/join/hello`;
    expect((await post(url2, hello(), '127.0.0.3')).status).toBe(200);
    const second = await post(url2, hello(), '127.0.0.3');
    expect(second.status).toBe(429);
    expect(second.text).toMatch(/too many open join sessions from this address/);
  });

  it('a session is usable only from the address that opened it', async () => {
    const j = peer.cluster.addJoiner(40);
    const stolen = await rawJoin(peer, j.token, { proofFrom: '127.0.0.9' });
    expect(stolen.answer.status).toBe(403);
    expect(stolen.answer.json).toEqual({
      error: { code: 'source-address', reason: 'the session was opened from another address' },
    });
    // the session was not burnt by the stranger: its owner still completes it
    const retry = await post(`${peer.url}/join/proof`, createProof(stolen.session, j.token));
    expect(retry.status).toBe(200);
  });

  it('a joiner connecting from an address that is not its pod IP is refused', async () => {
    const j = peer.cluster.addJoiner(41);
    const r = await rawJoin(peer, j.token, { helloFrom: '127.0.0.7', proofFrom: '127.0.0.7' });
    expect(r.answer.json).toEqual({
      error: { code: 'source-address', reason: expect.stringMatching(/comes from 127.0.0.7/) },
    });
  });

  it('unknown routes are 404', async () => {
    expect((await fetch(`${peer.url}/nope`)).status).toBe(404);
    expect((await fetch(`${peer.url}/join/hello`)).status).toBe(404);
  });
});

describe('readiness, identity and attestation', () => {
  it('readyz is 503 until the cell holds the secret; identity and attest need it', async () => {
    const cluster = new FakeCluster();
    const server = new CellServer({
      colony: COLONY,
      colonySource: cluster,
      verifier: cluster,
      inspector: cluster,
      self: { node: 'node-b', hardened: 'true' },
    });
    const addr = await server.listen(0, '127.0.0.1');
    peers.push(server);
    const url = `http://127.0.0.1:${addr.port}`;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    expect((await fetch(`${url}/identity`)).status).toBe(503);
    expect((await post(`${url}/join/hello`, createHello(COLONY.uid).hello)).status).toBe(503);

    const secret = ColonySecret.generate('ed25519');
    server.setSecret(secret);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const id = (await (await fetch(`${url}/identity`)).json()) as Record<string, unknown>;
    expect(id).toEqual({
      colony: 'lottery',
      namespace: 'prod',
      colonyUID: COLONY.uid,
      algorithm: 'ed25519',
      publicKey: secret.publicKey,
      fingerprint: secret.fingerprint,
    });

    const nonce = randomBytes(32).toString('base64');
    const att = (await post(`${url}/attest`, { nonce })).json as SignedAttestation;
    expect(att.statement).toMatchObject({
      colonyUID: COLONY.uid,
      reportedNode: 'node-b',
      reportedHardenedLabel: 'true',
      nonce,
      reportedImageDigest: COLONY.image.split('@')[1],
    });
    expect(att.statement).not.toHaveProperty('node');
    expect(verifyAttestation(att, secret.publicKey, nonce)).toBe(true);
    expect(verifyAttestation(att, secret.publicKey, 'other-nonce')).toBe(false);
    expect(
      verifyAttestation(
        { ...att, statement: { ...att.statement, reportedNode: 'node-x' } },
        secret.publicKey,
      ),
    ).toBe(false);
    expect(verifyAttestation(att, ColonySecret.generate('ed25519').publicKey)).toBe(false);

    secret.zero();
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
  });
});

it('JoinRefused carries code, reason and HTTP status', () => {
  const e = new JoinRefused('audience', 'x');
  expect(e.status).toBe(403);
  expect(JSON.parse(JSON.stringify(e))).toEqual({ code: 'audience', reason: 'x' });
});
