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
      help: false,
    });
  });

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
