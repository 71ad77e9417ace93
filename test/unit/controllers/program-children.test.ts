// Issue 13, operator side: a colony hosting a program gets its Service (selecting its cells on the
// program port), a NetworkPolicy rule for that port and a container port; a secp256k1 colony shows its
// Bitcoin address (P2TR, BIP86) in status, derived from the public key only.
import { describe, expect, it } from '@jest/globals';

import { colonyBitcoinAddress, colonyPayment } from '../../../src/api/bitcoin.js';
import type { Colony } from '../../../src/api/types.js';
import { buildCellNetworkPolicy } from '../../../src/builders/network-policy.js';
import { buildCellPod } from '../../../src/builders/pod.js';
import { buildProgramService, programServiceName } from '../../../src/builders/program-service.js';
import { reconcileColony } from '../../../src/controllers/colony.js';
import { cell, colony, node } from '../../fixtures/objects.js';
import { memoryContext } from '../../support/memory-context.js';

// BIP86 test vector (m/86'/0'/0'/0/0): internal key and its mainnet address.
const BIP86_INTERNAL = 'cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115';
const BIP86_ADDRESS = 'bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr';
const PUBLIC_KEY = `secp256k1:${Buffer.from('02' + BIP86_INTERNAL, 'hex').toString('base64')}`;

const lotteryColony = (): Colony =>
  colony((c) => {
    c.spec.secret = { algorithm: 'secp256k1' };
    c.spec.program = { module: '/app/dist/examples/lottery/program.js', port: 8080 };
    c.spec.bitcoin = { network: 'regtest' };
    c.status = { publicKey: PUBLIC_KEY, fingerprint: 'FP', genesisCell: 'lottery-0' };
  });

describe('the colony Bitcoin address', () => {
  it('is the BIP86 address of the public key (test vector), per network', () => {
    expect(colonyBitcoinAddress(PUBLIC_KEY, 'mainnet')).toBe(BIP86_ADDRESS);
    expect(colonyBitcoinAddress(PUBLIC_KEY, 'testnet')).toMatch(/^tb1p/);
    expect(colonyBitcoinAddress(PUBLIC_KEY, 'regtest')).toMatch(/^bcrt1p/);
    expect(Buffer.from(colonyPayment(PUBLIC_KEY, 'regtest').script).subarray(0, 2).toString('hex')).toBe(
      '5120',
    );
  });

  it('refuses a non-secp256k1 key and an unknown network, naming them', () => {
    const ed = `ed25519:${Buffer.alloc(32, 1).toString('base64')}`;
    expect(() => colonyBitcoinAddress(ed, 'mainnet')).toThrow(/secp256k1 colony key, not ed25519/);
    expect(() => colonyBitcoinAddress(PUBLIC_KEY, 'signet')).toThrow(
      /mainnet, testnet, regtest, not 'signet'/,
    );
  });
});

describe('reconcileColony: program children and address', () => {
  const run = async (col: Colony): Promise<ReturnType<typeof memoryContext>> => {
    const m = memoryContext({ now: new Date('2026-01-01T00:00:00Z') });
    m.world.colonies.put(col);
    m.world.nodes.put(node('n1'));
    await reconcileColony(m.ctx, 'ns/lottery');
    return m;
  };

  it('a secp256k1 colony with a program: its Service once, and its regtest address in status', async () => {
    const m = await run(lotteryColony());
    const services = m.writer.of('apply').filter((w) => w.kind === 'Service');
    expect(services.map((w) => w.name)).toEqual([programServiceName('lottery')]);
    const status = m.world.colonies.get('ns', 'lottery')?.status;
    expect(status?.bitcoinAddress).toBe(colonyBitcoinAddress(PUBLIC_KEY, 'regtest'));
    m.writer.clear();
    await reconcileColony(m.ctx, 'ns/lottery');
    expect(m.writer.of('apply').filter((w) => w.kind === 'Service')).toEqual([]);
  });

  it('an ed25519 colony without a program: no Service and no address', async () => {
    const m = await run(colony((c) => (c.status = { publicKey: 'ed25519:AAAA', fingerprint: 'FP' })));
    expect(m.writer.of('apply').filter((w) => w.kind === 'Service')).toEqual([]);
    expect(m.world.colonies.get('ns', 'lottery')?.status?.bitcoinAddress).toBeUndefined();
  });

  it('a secp256k1 colony with no network named: the mainnet address; none before the key is known', async () => {
    const mainnet = lotteryColony();
    delete mainnet.spec.bitcoin;
    expect((await run(mainnet)).world.colonies.get('ns', 'lottery')?.status?.bitcoinAddress).toBe(
      BIP86_ADDRESS,
    );
    const unseeded = lotteryColony();
    unseeded.status = {};
    expect((await run(unseeded)).world.colonies.get('ns', 'lottery')?.status?.bitcoinAddress).toBeUndefined();
  });
});

describe('program builders', () => {
  it('the Service selects the colony cells on the named program port, Ready endpoints only', () => {
    const svc = buildProgramService(lotteryColony());
    expect(svc.metadata?.name).toBe('lottery-program');
    expect(svc.spec?.selector).toMatchObject({ 'celula.io/colony': 'lottery' });
    expect(svc.spec?.publishNotReadyAddresses).toBe(false);
    expect(svc.spec?.ports).toEqual([{ name: 'program', protocol: 'TCP', port: 80, targetPort: 'program' }]);
    expect(svc.metadata?.ownerReferences?.[0]?.uid).toBe('colony-uid');
    expect(() => buildProgramService(colony())).toThrow(/spec.program/);
  });

  it('the pod gets a program port and the NetworkPolicy lets clients reach it (only it)', () => {
    const col = lotteryColony();
    const ports = buildCellPod(col, cell(col, 0, 'n1')).spec?.containers[0]?.ports;
    expect(ports).toEqual([
      { name: 'cell', containerPort: 8443, protocol: 'TCP' },
      { name: 'program', containerPort: 8080, protocol: 'TCP' },
    ]);
    const ingress = buildCellNetworkPolicy(col).spec?.ingress;
    expect(ingress?.[1]).toEqual({ ports: [{ protocol: 'TCP', port: 8080 }] });
    expect(ingress?.[0]?._from).toBeDefined();
    const plain = colony();
    expect(buildCellPod(plain, cell(plain, 0, 'n1')).spec?.containers[0]?.ports).toHaveLength(1);
    expect(buildCellNetworkPolicy(plain).spec?.ingress).toHaveLength(1);
  });
});
