import { describe, expect, it } from '@jest/globals';
import type { Cell, CellPhase, Colony, ColonyStatus } from '../../../src/api/types.js';
import { signKeyProof } from '../../../src/cell/key-proof.js';
import { ColonySecret } from '../../../src/cell/secret.js';
import { planColony, type ColonyWorld } from '../../../src/controllers/colony-plan.js';
import { cell, colony, hardened, node, notReady } from '../../fixtures/objects.js';

const now = new Date('2026-01-01T00:00:00Z');
const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => node(n));
const seededStatus: ColonyStatus = { publicKey: 'PK', fingerprint: 'FP', genesisCell: 'lottery-0' };

/** A cell that reported the colony key (a holder), in `phase`. */
function holder(col: Colony, index: number, nodeName: string, phase: CellPhase, genesis = false): Cell {
  const c = cell(col, index, nodeName, phase, genesis);
  c.status = { ...c.status, publicKey: 'PK' };
  return c;
}

const secret = ColonySecret.generate('ed25519');

/** An Alive genesis cell that reported the key of `secret` with a valid proof of possession. */
function provenGenesis(col: Colony, nodeName: string, proof?: string): Cell {
  const g = cell(col, 0, nodeName, 'Alive', true);
  const podUID = `pod-uid-${g.metadata.name}`;
  const subject = { colonyUID: col.metadata.uid!, cell: g.metadata.name!, cellUID: g.metadata.uid!, podUID };
  g.status = {
    phase: 'Alive',
    podUID,
    publicKey: secret.publicKey,
    fingerprint: secret.fingerprint,
    keyProof: proof ?? signKeyProof(secret, subject),
  };
  return g;
}

function world(w: Partial<ColonyWorld>): ColonyWorld {
  return { colony: colony(), cells: [], nodes, lockdown: 'Intact', now, ...w };
}

function cond(status: ColonyStatus, type: string) {
  return status.conditions?.find((c) => c.type === type);
}

describe('planColony', () => {
  it('creates only the genesis cell while there is no public key', () => {
    const plan = planColony(world({}));
    expect(plan.create).toEqual([{ index: 0, node: 'n1', genesis: true }]);
    expect(cond(plan.status, 'SecretHeld')).toMatchObject({ status: 'False', reason: 'WaitingForPublicKey' });
    expect(cond(plan.status, 'Ready')).toMatchObject({ status: 'False' });
  });

  it('waits while the genesis cell lives and has not reported its key', () => {
    const col = colony();
    const plan = planColony(world({ colony: col, cells: [cell(col, 0, 'n1', 'Starting', true)] }));
    expect(plan.create).toEqual([]);
    expect(plan.status.joining).toBe(1);
    expect(cond(plan.status, 'SecretHeld')!.message).toMatch(/genesis/);
  });

  it('records the public key from the live genesis cell, then fills replicas on distinct nodes', () => {
    const col = colony();
    const g = provenGenesis(col, 'n2');
    const plan = planColony(world({ colony: col, cells: [g] }));
    expect(plan.status).toMatchObject({
      publicKey: g.status!.publicKey,
      fingerprint: g.status!.fingerprint,
      genesisCell: 'lottery-0',
      alive: 1,
    });
    expect(plan.create).toEqual([
      { index: 1, node: 'n1', genesis: false },
      { index: 2, node: 'n3', genesis: false },
    ]);
  });

  it.each<[string, (col: Colony, g: Cell) => void]>([
    ['no proof', (_c, g) => delete g.status!.keyProof],
    ['a proof by another key', (_c, g) => (g.status!.publicKey = ColonySecret.generate('ed25519').publicKey)],
    ['a proof made for another pod', (_c, g) => (g.status!.podUID = 'pod-uid-other')],
    ['a proof made for another colony', (c) => (c.metadata.uid = 'other-colony-uid')],
    ['a proof made for another cell', (_c, g) => (g.metadata.uid = 'cell-uid-other')],
    ['a garbage proof', (_c, g) => (g.status!.keyProof = 'bm90IGEgc2lnbmF0dXJl')],
  ])('never records a public key without a valid proof of possession: %s', (_what, forge) => {
    const col = colony();
    const g = provenGenesis(col, 'n2');
    forge(col, g);
    const plan = planColony(world({ colony: col, cells: [g] }));
    expect(plan.status.publicKey).toBeUndefined();
    expect(plan.create).toEqual([]);
  });

  it('never changes a recorded public key', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const g = cell(col, 0, 'n1', 'Alive', true);
    g.status = { phase: 'Alive', publicKey: 'OTHER' };
    expect(planColony(world({ colony: col, cells: [g] })).status.publicKey).toBe('PK');
  });

  it('replaces dead cells on other nodes and reports Degraded below the floor', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const cells = [cell(col, 0, 'n1', 'Dead', true), cell(col, 1, 'n2', 'Dead'), cell(col, 2, 'n3', 'Alive')];
    const plan = planColony(world({ colony: col, cells, nodes: [node('n1', notReady), ...nodes.slice(1)] }));
    expect(plan.create.map((p) => p.node)).toEqual(['n2', 'n4']);
    expect(plan.create.map((p) => p.index)).toEqual([3, 4]);
    expect(cond(plan.status, 'Degraded')).toMatchObject({ status: 'True' });
    expect(cond(plan.status, 'FloorMet')).toMatchObject({ status: 'False' });
  });

  it('turns Lost when every cell died after seeding, and never seeds again', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const cells = [cell(col, 0, 'n1', 'Dead', true), cell(col, 1, 'n2', 'Dead')];
    const plan = planColony(world({ colony: col, cells }));
    expect(plan.becameLost).toBe(true);
    expect(plan.create).toEqual([]);
    expect(cond(plan.status, 'Lost')).toMatchObject({ status: 'True', reason: 'AllCellsDied' });
    const again = planColony(world({ colony: { ...col, status: plan.status }, cells: [] }));
    expect(again.becameLost).toBe(false);
    expect(again.create).toEqual([]);
    expect(cond(again.status, 'Lost')).toMatchObject({ status: 'True' });
  });

  it('counts heard holders, unreachable holders and newcomers apart, and surges for the unreachable', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const cells = [
      holder(col, 0, 'n1', 'Alive', true),
      holder(col, 1, 'n2', 'Unreachable'),
      cell(col, 2, 'n3', 'Joining'),
    ];
    const plan = planColony(world({ colony: col, cells }));
    expect(plan.status).toMatchObject({ alive: 1, unreachable: 1, joining: 1, desired: 3 });
    // Surge: replicas 3 − heard 1 − joining 1 = 1 more, on the one node with a free slot.
    expect(plan.create).toEqual([{ index: 3, node: 'n4', genesis: false }]);
    expect(plan.retire).toEqual([]);
    expect(cond(plan.status, 'HoldersUnreachable')).toMatchObject({
      status: 'True',
      message: expect.stringContaining('1 holder(s) cannot be heard (1 heard)') as unknown as string,
    });
    expect(cond(plan.status, 'Lost')).toMatchObject({ status: 'False' });
    expect(cond(plan.status, 'Ready')).toMatchObject({ status: 'False', reason: 'HoldersUnreachable' });
    expect(cond(plan.status, 'FloorMet')).toMatchObject({ status: 'False' });
    expect(cond(plan.status, 'Degraded')).toMatchObject({ status: 'True' });
  });

  it('is never Lost while every holder is unreachable, and Ready again when they are heard', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const unheard = [0, 1, 2].map((i) => holder(col, i, `n${i + 1}`, 'Unreachable', i === 0));
    const plan = planColony(world({ colony: col, cells: unheard, nodes: [] }));
    expect(plan.becameLost).toBe(false);
    expect(cond(plan.status, 'Lost')).toMatchObject({ status: 'False', reason: 'SecretAlive' });
    expect(cond(plan.status, 'SecretHeld')).toMatchObject({ status: 'True' });
    expect(plan.status).toMatchObject({ alive: 0, unreachable: 3 });
    const heard = [0, 1, 2].map((i) => holder(col, i, `n${i + 1}`, 'Alive', i === 0));
    const back = planColony(world({ colony: { ...col, status: plan.status }, cells: heard }));
    expect(cond(back.status, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(back.status, 'HoldersUnreachable')).toMatchObject({ status: 'False' });
    expect(back.create).toEqual([]);
  });

  it('turns Lost only when every holder is proven dead, and clears a Lost declared while a holder lives', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const proven = [
      holder(col, 0, 'n1', 'Dead', true),
      holder(col, 1, 'n2', 'Dead'),
      cell(col, 2, 'n3', 'Joining'),
    ];
    expect(planColony(world({ colony: col, cells: proven })).becameLost).toBe(true);
    // The old rule declared Lost from readiness alone; a holder still living undoes it.
    const wronglyLost = planColony(
      world({ colony: col, cells: [holder(col, 0, 'n1', 'Dead', true)] }),
    ).status;
    const alive = [holder(col, 1, 'n2', 'Alive'), holder(col, 2, 'n3', 'Unreachable')];
    const plan = planColony(world({ colony: { ...col, status: wronglyLost }, cells: alive }));
    expect(cond(plan.status, 'Lost')).toMatchObject({ status: 'False' });
  });

  it('is not Lost when the recorded key is forged while a living cell proves the key it holds', () => {
    // Someone wrote status.publicKey before the genesis cell reported (the colony-status wall deleted
    // for a moment): no cell holds that key, but the genesis cell proves it holds the real one.
    const col = colony((c) => (c.status = { publicKey: 'FORGED', fingerprint: 'FORGED' }));
    const genesis = provenGenesis(col, 'n1');
    const plan = planColony(world({ colony: col, cells: [genesis] }));
    expect(plan.becameLost).toBe(false);
    expect(cond(plan.status, 'Lost')?.status).not.toBe('True');
    // A proof that does not verify is no evidence: with only that, the colony is Lost as before.
    const unproven = provenGenesis(col, 'n1', 'not-a-signature');
    expect(planColony(world({ colony: col, cells: [unproven] })).becameLost).toBe(true);
  });

  it('retires surplus newest-first once suspects are heard again, never below replicas heard holders', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const cells = [
      holder(col, 0, 'n1', 'Alive', true),
      holder(col, 1, 'n2', 'Alive'),
      holder(col, 2, 'n3', 'Alive'),
      holder(col, 3, 'n4', 'Alive'),
      cell(col, 4, 'n5', 'Joining'),
    ];
    const plan = planColony(world({ colony: col, cells }));
    expect(plan.retire).toEqual(['lottery-4', 'lottery-3']);
    expect(plan.create).toEqual([]);
  });

  it('never retires an unreachable holder, nor a heard one that would leave fewer than replicas heard', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const cells = [
      holder(col, 0, 'n1', 'Unreachable', true),
      holder(col, 1, 'n2', 'Alive'),
      holder(col, 2, 'n3', 'Alive'),
      holder(col, 3, 'n4', 'Alive'),
    ];
    expect(planColony(world({ colony: col, cells })).retire).toEqual([]);
    const short = [
      holder(col, 0, 'n1', 'Unreachable', true),
      holder(col, 1, 'n2', 'Alive'),
      holder(col, 2, 'n3', 'Alive'),
      cell(col, 3, 'n4', 'Joining'),
    ];
    expect(planColony(world({ colony: col, cells: short })).retire).toEqual([]);
  });

  it('never reuses a retired cell name: the colony records the last index used', () => {
    const col = colony((c) => (c.status = { ...seededStatus, lastCellIndex: 7 }));
    const cells = [holder(col, 0, 'n1', 'Alive', true), holder(col, 1, 'n2', 'Alive')];
    const plan = planColony(world({ colony: col, cells }));
    expect(plan.create).toEqual([{ index: 8, node: 'n3', genesis: false }]);
    expect(plan.status.lastCellIndex).toBe(8);
  });

  it('a joiner that reported the key but is not Ready yet counts as joining: no extra surge', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const cells = [
      holder(col, 0, 'n1', 'Alive', true),
      holder(col, 1, 'n2', 'Alive'),
      holder(col, 2, 'n3', 'Joining'),
    ];
    const plan = planColony(world({ colony: col, cells }));
    expect(plan.status).toMatchObject({ alive: 2, unreachable: 0, joining: 1 });
    expect(plan.create).toEqual([]);
  });

  it('retires nothing during a control-plane fault', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const cells = [0, 1, 2, 3].map((i) => holder(col, i, `n${i + 1}`, 'Alive', i === 0));
    expect(planColony(world({ colony: col, cells })).retire).toEqual(['lottery-3']);
    expect(planColony(world({ colony: col, cells, fault: 'mass disruption' })).retire).toEqual([]);
  });

  it('does not seed while the lock-down policies are missing, and counts the incident', () => {
    const intact = planColony(world({}));
    const plan = planColony(world({ lockdown: 'Broken', colony: colony((c) => (c.status = intact.status)) }));
    expect(plan.status.lockdownIncidents).toBe(1);
    expect(planColony(world({ lockdown: 'Unknown' })).create).toEqual([]);
    expect(plan.create).toEqual([]);
    expect(cond(plan.status, 'LockdownIntact')).toMatchObject({ status: 'False' });
    expect(cond(plan.status, 'SecretHeld')).toMatchObject({ reason: 'LockdownMissing' });
  });

  it('makes no cell, genesis or replacement, until the lock-down covers its namespace, and says why', () => {
    const wait = 'waiting for the lock-down to cover namespace ns (ns.ns)';
    const plan = planColony(world({ namespaceWait: wait }));
    expect(plan.create).toEqual([]);
    expect(cond(plan.status, 'SecretHeld')).toMatchObject({
      status: 'False',
      reason: 'LockdownMissing',
      message: wait,
    });
    const col = colony((c) => (c.status = { ...seededStatus }));
    const cells = [holder(col, 0, 'n1', 'Alive', true)];
    expect(planColony(world({ colony: col, cells })).create.length).toBeGreaterThan(0);
    expect(planColony(world({ colony: col, cells, namespaceWait: wait })).create).toEqual([]);
  });

  it('counts breaks it never saw (restored before it looked), once each, never twice', () => {
    const intact = planColony(world({}));
    const was = colony((c) => (c.status = intact.status));
    expect(planColony(world({ colony: was, lockdownBreaks: 1 })).status.lockdownIncidents).toBe(1);
    expect(planColony(world({ colony: was, lockdownBreaks: 2 })).status.lockdownIncidents).toBe(2);
    // Seen broken and counted by the lock-down: one incident, not two.
    const seen = planColony(world({ lockdown: 'Broken', colony: was, lockdownBreaks: 1 }));
    expect(seen.status.lockdownIncidents).toBe(1);
    // Still broken on the next pass, nothing new: no more incidents.
    const next = colony((c) => (c.status = seen.status));
    expect(
      planColony(world({ lockdown: 'Broken', colony: next, lockdownBreaks: 0 })).status.lockdownIncidents,
    ).toBe(1);
  });

  it('does not seed while a mutator can change cell pods, and says so (not "policies missing")', () => {
    const intact = planColony(world({}));
    const plan = planColony(
      world({ lockdown: 'Mutated', colony: colony((c) => (c.status = intact.status)) }),
    );
    expect(plan.create).toEqual([]);
    expect(plan.status.lockdownIncidents).toBe(1);
    expect(cond(plan.status, 'LockdownIntact')).toMatchObject({
      status: 'False',
      reason: 'MutatingAdmission',
    });
    expect(cond(plan.status, 'SecretHeld')!.message).toMatch(/mutating webhook/);
  });

  it('places cells only on hardened nodes unless the colony is unhardened', () => {
    const col = colony((c) => (c.spec.nodes = { provider: 'existing' }));
    const plan = planColony(world({ colony: col, nodes: [node('n1'), node('n2', hardened)] }));
    expect(plan.create).toEqual([{ index: 0, node: 'n2', genesis: true }]);
    const none = planColony(world({ colony: col, nodes: [node('n1')] }));
    expect(none.create).toEqual([]);
    expect(none.shortfall).toMatch(/hardened/);
  });

  it('says when there are not enough nodes', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const plan = planColony(
      world({ colony: col, cells: [cell(col, 0, 'n1', 'Alive', true)], nodes: [node('n1'), node('n2')] }),
    );
    expect(plan.create).toHaveLength(1);
    expect(cond(plan.status, 'Ready')).toMatchObject({ status: 'False', reason: 'InsufficientNodes' });
  });

  it('deletes dead cells beyond the history limit, oldest first', () => {
    const col = colony((c) => (c.status = { ...seededStatus }));
    const dead = [0, 1, 2, 3, 4, 5, 6].map((i) => cell(col, i, `n${i}`, 'Dead'));
    const plan = planColony(world({ colony: col, cells: [...dead, cell(col, 7, 'n1', 'Alive')] }));
    expect(plan.delete).toEqual(['lottery-1', 'lottery-0']);
  });

  it('keeps lastTransitionTime when a condition does not change', () => {
    const first = planColony(world({}));
    const later = planColony(
      world({ colony: colony((c) => (c.status = first.status)), now: new Date('2026-01-02T00:00:00Z') }),
    );
    expect(cond(later.status, 'Ready')!.lastTransitionTime).toBe(
      cond(first.status, 'Ready')!.lastTransitionTime,
    );
  });
});
