// A peer pins the code its colony runs to what it started with: a Colony whose image, args or program
// changed since (a cluster-admin who edited the CRD's immutability rules away, or a conversion webhook
// that rewrites the Colony on read) gets no joiner admitted, even a joiner whose pod matches the new
// Colony exactly.
import { describe, expect, it } from '@jest/globals';

import type { Colony } from '../../../src/api/types.js';
import { admitJoiner, currentContext } from '../../../src/cell/admission.js';
import { colonyCode } from '../../../src/cell/checks.js';
import { JoinRefused } from '../../../src/cell/errors.js';
import { colonyContext } from '../../../src/cell/kube.js';
import { ReplayGuard } from '../../../src/cell/replay.js';
import { COLONY_OBJECT, FakeCluster, JOINER_IP } from './fixtures.js';

const OTHER_IMAGE = `registry.example/evil@sha256:${'cd'.repeat(32)}`;

function edited(change: (c: Colony) => void): Colony {
  const c = structuredClone(COLONY_OBJECT);
  change(c);
  return c;
}

function refusal(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof JoinRefused ? err.code : `not a refusal: ${String(err)}`;
  }
}

describe('currentContext pins the colony code the peer started with', () => {
  const atStart = colonyContext(COLONY_OBJECT);

  it('admits against the same Colony read again (replicas and other mutable fields may change)', () => {
    const fresh = edited((c) => {
      c.spec.replicas = 7;
      c.spec.resources = { memory: '256Mi' };
    });
    expect(refusal(() => currentContext(atStart, fresh))).toBeUndefined();
    expect(currentContext(atStart, fresh).image).toBe(COLONY_OBJECT.spec.image);
  });

  it.each<[string, (c: Colony) => void]>([
    ['image', (c) => (c.spec.image = OTHER_IMAGE)],
    ['args', (c) => (c.spec.args = ['--debug'])],
    ['program', (c) => (c.spec.program = { module: 'evil.js' })],
    ['secret algorithm', (c) => (c.spec.secret = { algorithm: 'secp256k1' })],
    ['bitcoin network', (c) => (c.spec.bitcoin = { network: 'regtest' })],
  ])('refuses with colony-changed when the %s changed', (_what, change) => {
    expect(refusal(() => currentContext(atStart, edited(change)))).toBe('colony-changed');
  });

  it('treats an absent and an empty args list as the same code (the CRD does too)', () => {
    expect(colonyCode(edited((c) => (c.spec.args = [])))).toBe(colonyCode(COLONY_OBJECT));
  });

  it('still refuses another colony by uid first', () => {
    const other = edited((c) => (c.metadata.uid = 'another-uid'));
    expect(refusal(() => currentContext(atStart, other))).toBe('wrong-colony');
  });
});

describe('admitJoiner after the Colony was changed under the peer', () => {
  it('refuses a joiner whose pod runs the new image, though the pod matches the new Colony', async () => {
    const cluster = new FakeCluster();
    const { token, facts, key } = cluster.addJoiner(1);
    const deps = {
      colony: colonyContext(COLONY_OBJECT),
      colonySource: cluster,
      verifier: cluster,
      inspector: cluster,
      replay: new ReplayGuard(),
    };
    const session = { remoteAddress: JOINER_IP, joinKey: key.digest };
    // The joiner is admitted while the Colony is what the peer started with ...
    await expect(admitJoiner(token, session, deps)).resolves.toMatchObject({ facts: { cell: facts.cell } });
    // ... and refused once the Colony says another image, whatever the joiner's pod runs.
    cluster.colonyObject.spec.image = OTHER_IMAGE;
    await expect(admitJoiner(token, session, deps)).rejects.toMatchObject({ code: 'colony-changed' });
  });
});
