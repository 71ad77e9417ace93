import { describe, expect, it } from '@jest/globals';
import { parseOptions, UsageError } from '../../src/options.js';

describe('parseOptions', () => {
  it('has sensible defaults', () => {
    expect(parseOptions([], {})).toEqual({
      kubeconfig: undefined,
      namespace: undefined,
      logLevel: 'info',
      metricsAddr: '127.0.0.1:8080',
      healthAddr: '127.0.0.1:8081',
      leaderElect: true,
      leaderNamespace: 'celula-system',
      workers: 4,
      nodeLossAfter: undefined,
      massDisruptionFraction: 0.5,
      massDisruptionMinNodes: 3,
      hardenedNodeLeaseSeconds: 10,
      writeQps: 50,
      writeBurst: 100,
      help: false,
    });
  });

  it('reads the write limit from the flags or the environment and refuses a bad one, naming it', () => {
    expect(parseOptions(['--write-qps', '2.5', '--write-burst=7'], {})).toMatchObject({
      writeQps: 2.5,
      writeBurst: 7,
    });
    expect(parseOptions([], { CELULA_WRITE_QPS: '300', CELULA_WRITE_BURST: '600' })).toMatchObject({
      writeQps: 300,
      writeBurst: 600,
    });
    for (const v of ['0', '-1', 'x', '', '10001'])
      expect(() => parseOptions([`--write-qps=${v}`], {})).toThrow(/--write-qps: want writes per second/);
    for (const v of ['0', '1.5', 'x'])
      expect(() => parseOptions([`--write-burst=${v}`], {})).toThrow(/--write-burst: want a whole number/);
  });

  it('reads --hardened-node-lease-seconds from the flag or the environment; 0 leaves the kubelet its own', () => {
    expect(parseOptions(['--hardened-node-lease-seconds', '20'], {}).hardenedNodeLeaseSeconds).toBe(20);
    expect(parseOptions([], { CELULA_HARDENED_NODE_LEASE_SECONDS: '4' }).hardenedNodeLeaseSeconds).toBe(4);
    expect(parseOptions(['--hardened-node-lease-seconds=0'], {}).hardenedNodeLeaseSeconds).toBeUndefined();
  });

  it.each(['3', '301', '2.5', 'ten', ''])(
    'refuses --hardened-node-lease-seconds %j, naming the flag',
    (v) => {
      expect(() => parseOptions([`--hardened-node-lease-seconds=${v}`], {})).toThrow(
        /--hardened-node-lease-seconds: want whole seconds 4..300/,
      );
    },
  );

  it('prefers flags over the environment', () => {
    const o = parseOptions(['--namespace', 'a', '--leader-elect=false'], {
      CELULA_NAMESPACE: 'b',
      LOG_LEVEL: 'debug',
    });
    expect(o).toMatchObject({ namespace: 'a', leaderElect: false, logLevel: 'debug' });
  });

  it('reads --node-loss-after (seconds, fractions allowed) from the flag or CELULA_NODE_LOSS_AFTER', () => {
    expect(parseOptions(['--node-loss-after', '2.5'], {}).nodeLossAfter).toBe(2.5);
    expect(parseOptions([], { CELULA_NODE_LOSS_AFTER: '20' }).nodeLossAfter).toBe(20);
    expect(parseOptions(['--node-loss-after=15'], { CELULA_NODE_LOSS_AFTER: '20' }).nodeLossAfter).toBe(15);
  });

  it('reads the mass-disruption guard flags from the flag or the environment', () => {
    expect(parseOptions(['--mass-disruption-fraction', '0.3'], {}).massDisruptionFraction).toBe(0.3);
    expect(parseOptions([], { CELULA_MASS_DISRUPTION_FRACTION: '1' }).massDisruptionFraction).toBe(1);
    expect(parseOptions(['--mass-disruption-min-nodes=5'], {}).massDisruptionMinNodes).toBe(5);
    expect(parseOptions([], { CELULA_MASS_DISRUPTION_MIN_NODES: '10' }).massDisruptionMinNodes).toBe(10);
  });

  it.each([
    [['--mass-disruption-fraction', '0'], /--mass-disruption-fraction: want a fraction/],
    [['--mass-disruption-fraction', '1.5'], /--mass-disruption-fraction: want a fraction/],
    [['--mass-disruption-fraction', 'half'], /--mass-disruption-fraction: want a fraction/],
    [['--mass-disruption-min-nodes', '0'], /--mass-disruption-min-nodes: want a whole number/],
    [['--mass-disruption-min-nodes', '2.5'], /--mass-disruption-min-nodes: want a whole number/],
    [['--log-level', 'loud'], /--log-level: want one of/],
    [['--leader-elect', 'maybe'], /--leader-elect: want true or false/],
    [['--metrics-addr', 'nowhere'], /--metrics-addr: want host:port/],
    [['--workers', '0'], /--workers: want a whole number/],
    [['--node-loss-after', '0'], /--node-loss-after: want seconds/],
    [['--node-loss-after', 'soon'], /--node-loss-after: want seconds/],
    [['--bogus'], /bogus/],
  ])('rejects %j with a message naming the flag', (argv, msg) => {
    expect(() => parseOptions(argv, {})).toThrow(UsageError);
    expect(() => parseOptions(argv, {})).toThrow(msg);
  });
});
