// Program hosting (issue 13, acceptance 2): what a program can reach is the narrow key, never raw key
// bytes; its signatures are domain-separated, so a signature it makes over a join-transcript-shaped
// or attestation-shaped message is refused by the joiner's check, by /attest verification and by the
// key-proof check. Plus the program server's HTTP contract and the readiness gate.
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import * as path from 'node:path';

import { colonyBitcoinAddress } from '../../../src/api/bitcoin.js';
import { keyProofMessage, parsePublicKey, verifyKeyProof } from '../../../src/api/identity.js';
import { verifyProgramSignature } from '../../../src/api/program-signature.js';
import { ALGORITHMS, type Colony } from '../../../src/api/types.js';
import { attestationBytes, signAttestation, verifyAttestation } from '../../../src/cell/attest.js';
import { JoinRefused } from '../../../src/cell/errors.js';
import { loadProgram, startProgram } from '../../../src/cell/program-host.js';
import { defineProgram, ProgramError } from '../../../src/cell/program.js';
import {
  acceptHello,
  createHello,
  transcriptHash,
  verifyChallenge,
  type JoinerState,
} from '../../../src/cell/protocol.js';
import type { ChallengeMessage } from '../../../src/cell/messages.js';
import { programContext } from '../../../src/cell/run.js';
import { ColonySecret } from '../../../src/cell/secret.js';
import { CellServer } from '../../../src/cell/server.js';
import { COLONY, COLONY_OBJECT, FakeCluster } from './fixtures.js';

const ECHO = path.resolve('test/fixtures/programs/echo.ts');
const CHALLENGE_LABEL = Buffer.from('celula/join/v1/challenge\0');

function rawOf(secret: ColonySecret): Buffer {
  return ColonySecret.withRawBytes(secret, (b) => Buffer.from(b));
}

function colonyFor(algorithm: Colony['spec']['secret']['algorithm']): Colony {
  return {
    ...COLONY_OBJECT,
    spec: { ...COLONY_OBJECT.spec, secret: { algorithm }, bitcoin: { network: 'regtest' } },
  };
}

/** Every value reachable from `root` by reflection: own properties (getters read), symbols, prototypes. */
function reachable(root: unknown): unknown[] {
  const seen = new Set<unknown>();
  const stack = [root];
  const builtins = new Set<unknown>([
    Object.prototype,
    Function.prototype,
    Buffer.prototype,
    Uint8Array.prototype,
  ]);
  while (stack.length > 0) {
    const v = stack.pop();
    if (seen.has(v) || builtins.has(v)) continue;
    seen.add(v);
    if ((typeof v !== 'object' && typeof v !== 'function') || v === null) continue;
    if (v instanceof Uint8Array) continue;
    for (const key of Reflect.ownKeys(v)) {
      const desc = Object.getOwnPropertyDescriptor(v, key);
      if (desc?.get) stack.push(desc.get.call(v));
      else if (desc && 'value' in desc) stack.push(desc.value);
    }
    stack.push(Object.getPrototypeOf(v));
  }
  return [...seen];
}

function containsSecret(values: unknown[], raw: Buffer): string[] {
  const forms = [raw.toString('hex'), raw.toString('base64'), raw.toString('base64url')];
  const hits: string[] = [];
  for (const v of values) {
    if (v instanceof Uint8Array && Buffer.from(v).includes(raw)) hits.push('a byte array holding the secret');
    if (typeof v === 'string' && forms.some((f) => v.includes(f)))
      hits.push(`a string holding the secret: ${v.slice(0, 8)}…`);
  }
  return hits;
}

/** What a joiner computes: the transcript hash of its own hello and the peer's challenge. */
function joinerTranscriptHash(
  joiner: JoinerState,
  challenge: ChallengeMessage,
  algorithm: ColonySecret['algorithm'],
): Buffer {
  return transcriptHash({
    colonyUID: joiner.colonyUID,
    algorithm,
    joinerPub: joiner.ephemeralPub,
    joinerNonce: joiner.nonce,
    peerPub: Buffer.from(challenge.ephemeralPub, 'base64'),
    peerNonce: Buffer.from(challenge.nonce, 'base64'),
    sessionId: Buffer.from(challenge.sessionId, 'base64'),
  });
}

describe.each(ALGORITHMS)('a program on a %s colony', (algorithm) => {
  const secret = ColonySecret.generate(algorithm);
  const raw = rawOf(secret);
  const ctx = programContext(colonyFor(algorithm), secret);

  it('reaches no raw key bytes: not through the context, its key, or anything the key returns', () => {
    const outputs: unknown[] = [ctx.key.sign(Buffer.alloc(0)), ctx.key.derive('x')];
    expect(() => ctx.key.derive('')).toThrow(/non-empty label/);
    expect(() => ctx.key.derive('x', 8)).toThrow(/16\.\.64 bytes/);
    const box = ctx.key.encrypt(Buffer.from('hello'));
    outputs.push(box, ctx.key.decrypt(box), ctx.key.decryptionPublicKey);
    for (let len = 16; len <= 64; len += 16) outputs.push(ctx.key.derive('celula/identity', len));
    const hits = containsSecret([...reachable(ctx), ...outputs], raw);
    expect(hits).toEqual([]);
    expect(Object.isFrozen(ctx)).toBe(true);
    expect(Object.isFrozen(ctx.key)).toBe(true);
    // The facade is closures: nothing on it is the ColonySecret or a path to withRawBytes.
    expect(reachable(ctx).some((v) => v instanceof ColonySecret)).toBe(false);
  });

  it("signs 'celula/program/v1\\0' || data: outsiders verify with the colony key; the bare data does not verify", () => {
    const data = Buffer.from('payout 42');
    const sig = ctx.key.sign(data);
    expect(verifyProgramSignature(secret.publicKey, data, sig)).toBe(true);
    expect(ctx.key.verify(data, sig)).toBe(true);
    expect(secret.verify(data, sig)).toBe(false);
    expect(verifyProgramSignature(secret.publicKey, Buffer.from('payout 43'), sig)).toBe(false);
  });

  it('cannot produce a join challenge a joiner accepts: the joiner refuses the program signature', () => {
    const { hello, joiner } = createHello(COLONY.uid);
    const { challenge } = acceptHello(hello, secret, COLONY.uid, {
      now: Date.now(),
      remoteAddress: '127.0.0.1',
    });
    const identity = parsePublicKey(secret.publicKey);
    expect(verifyChallenge(joiner, challenge, identity).th).toEqual(
      joinerTranscriptHash(joiner, challenge, algorithm),
    );
    // The program is handed the exact bytes the runtime signs, and the digest of them.
    const th = joinerTranscriptHash(joiner, challenge, algorithm);
    const shaped = Buffer.concat([CHALLENGE_LABEL, th]);
    const forged = [ctx.key.sign(shaped), ctx.key.sign(th)];
    if (algorithm === 'secp256k1') {
      forged.push(ctx.key.signTaproot(createHash('sha256').update(shaped).digest()), ctx.key.signTaproot(th));
    }
    for (const signature of forged) {
      const attempt = { ...challenge, signature: signature.toString('base64') };
      expect(() => verifyChallenge(joiner, attempt, identity)).toThrow(JoinRefused);
      expect(() => verifyChallenge(joiner, attempt, identity)).toThrow(/peer signature does not verify/);
    }
  });

  it('cannot produce an attestation /attest verification accepts, nor a key proof the operator accepts', () => {
    const facts = {
      colony: COLONY.name,
      namespace: COLONY.namespace,
      colonyUID: COLONY.uid,
      reportedImageDigest: 'sha256:' + 'ab'.repeat(32),
      reportedNode: 'node-1',
      reportedHardenedLabel: null,
    };
    const genuine = signAttestation(secret, facts, 'bm9uY2Vub25jZW5vbmNlbm9uY2U=');
    expect(verifyAttestation(genuine, secret.publicKey, genuine.statement.nonce)).toBe(true);
    const programMade = {
      ...genuine,
      signature: ctx.key.sign(attestationBytes(genuine.statement)).toString('base64'),
    };
    expect(verifyAttestation(programMade, secret.publicKey, genuine.statement.nonce)).toBe(false);

    const subject = {
      colonyUID: COLONY.uid,
      cell: 'lottery-1',
      podUID: 'pod-1',
      publicKey: secret.publicKey,
    };
    expect(verifyKeyProof(subject, ctx.key.sign(keyProofMessage(subject)).toString('base64'))).toBe(false);
  });

  it('gets a Taproot signer only on a secp256k1 colony, with the address in its context', () => {
    if (algorithm !== 'secp256k1') {
      expect(ctx.bitcoin).toBeUndefined();
      expect(() => ctx.key.signTaproot(Buffer.alloc(32))).toThrow(/secp256k1 colony/);
      return;
    }
    expect(ctx.bitcoin).toEqual({
      network: 'regtest',
      address: colonyBitcoinAddress(secret.publicKey, 'regtest'),
    });
    expect(ctx.bitcoin?.address).toMatch(/^bcrt1p[02-9ac-hj-np-z]{58}$/);
    expect(() => ctx.key.signTaproot(Buffer.alloc(31))).toThrow(/32-byte digest/);
    const digest = createHash('sha256').update('sighash').digest();
    expect(ctx.key.signTaproot(digest)).toEqual(ctx.key.signTaproot(digest)); // deterministic
  });
});

describe('defineProgram', () => {
  const ok = (): { status: number; body: unknown } => ({ status: 200, body: {} });

  it.each<[string, Parameters<typeof defineProgram>[0], RegExp]>([
    ['no name', { name: '', routes: { 'GET /a': ok } }, /needs a name/],
    ['no routes', { name: 'p', routes: {} }, /defines no routes/],
    [
      'a bad route key',
      { name: 'p', routes: { 'PUT /a': ok } },
      /'PUT \/a' must be 'GET \/path' or 'POST \/path'/,
    ],
    ['a relative path', { name: 'p', routes: { 'GET a': ok } }, /must be 'GET \/path'/],
  ])('refuses %s with a clear error', (_what, def, message) => {
    expect(() => defineProgram(def)).toThrow(message);
  });

  it('ProgramError takes 4xx codes only', () => {
    expect(new ProgramError(422, 'bad').status).toBe(422);
    expect(() => new ProgramError(500, 'x')).toThrow(/4xx/);
  });

  it('loadProgram refuses a relative path and a module without a program default export', async () => {
    await expect(loadProgram('programs/echo.js')).rejects.toThrow(/absolute path/);
    await expect(loadProgram(path.resolve('test/fixtures/objects.ts'))).rejects.toThrow(
      /must export default defineProgram/,
    );
    await expect(loadProgram('/nonexistent/program.js')).rejects.toThrow(/cannot import the program module/);
  });
});

describe('the program server', () => {
  it('runs onReady once, serves the routes, and keeps program error text out of replies', async () => {
    const secret = ColonySecret.generate('secp256k1');
    const ctx = programContext(colonyFor('secp256k1'), secret);
    const { server, address } = await startProgram(ECHO, ctx, { port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${address.port}`;
    try {
      const info = (await (await fetch(`${url}/info`)).json()) as { readyCalls: number; publicKey: string };
      expect(info.readyCalls).toBe(1);
      expect(info.publicKey).toBe(secret.publicKey);
      const post = (p: string, body: string): Promise<Response> =>
        fetch(`${url}${p}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      const signed = (await (await post('/sign', '{"text":"hi"}')).json()) as { signature: string };
      expect(
        verifyProgramSignature(secret.publicKey, Buffer.from('hi'), Buffer.from(signed.signature, 'base64')),
      ).toBe(true);
      const refused = await post('/sign', '{"text":1}');
      expect(refused.status).toBe(422);
      expect(await refused.json()).toEqual({ error: 'text must be a string' });
      const crashed = await post('/crash', '{}');
      expect(crashed.status).toBe(500);
      expect(await crashed.text()).not.toContain('did not mean');
      expect((await post('/sign', 'not json')).status).toBe(400);
      expect((await post('/sign', JSON.stringify({ text: 'x'.repeat(70_000) }))).status).toBe(413);
      expect((await fetch(`${url}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('readiness waits for the program even when the cell holds the secret', async () => {
    const cluster = new FakeCluster();
    const server = new CellServer({
      colony: COLONY,
      colonySource: cluster,
      verifier: cluster,
      inspector: cluster,
      self: { node: 'node-1', hardened: null },
    });
    const address = await server.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${address.port}/readyz`;
    try {
      server.expectProgram();
      server.setSecret(ColonySecret.generate('ed25519'));
      const pending = await fetch(url);
      expect(pending.status).toBe(503);
      expect(await pending.json()).toEqual({ ready: false, holdsSecret: true, programReady: false });
      server.programReady();
      expect((await fetch(url)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});
