// `npm run chaos -- --shards K`: how a run is split between shards and how their tables merge.
import { describe, expect, it } from '@jest/globals';
import { parseArgs, shardArgs } from '../../system/chaos.js';
import { addTo, mergeRows, totals, type Rows } from '../../system/table.js';

const stats = (lost: number, below: number): Parameters<typeof addTo>[2] => ({
  secretsLost: lost,
  wronglyKilled: 0,
  fingerprintChanges: 0,
  retired: 1,
  worstBelowFloorS: below,
  worstFloorUnmetS: 0,
  notes: [],
});

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
}

describe('chaos --shards', () => {
  it('splits the incidents and gives each shard its own seed and the run-wide knobs', () => {
    const args = parseArgs(['--incidents', '1000', '--seed', '7', '--shards', '3']);
    const shards = [0, 1, 2].map((i) => shardArgs(args, i, `/tmp/s${i}.json`));
    expect(shards.map((a) => Number(flag(a, '--incidents')))).toEqual([334, 333, 333]);
    expect(shards.map((a) => flag(a, '--seed'))).toEqual(['7', '8', '9']);
    // The long-run defaults follow the whole run's size, not a shard's.
    expect(shards.map((a) => flag(a, '--stall-all-s'))).toEqual(['45', '45', '45']);
    expect(shards.every((a) => flag(a, '--shards') === '1')).toBe(true);
    // A shard's arguments parse back to the same knobs.
    const back = parseArgs(shards[1]!);
    expect([back.incidents, back.seed, back.apiDownS, back.rowsOut]).toEqual([333, 8, 60, '/tmp/s1.json']);
    // Shards start together: each may take longer to become Ready.
    expect([args.readyTimeoutS, back.readyTimeoutS]).toEqual([720, 720]);
  });

  it('refuses a shard count that is not a positive integer', () => {
    expect(() => parseArgs(['--shards', '0'])).toThrow('--shards needs an integer ≥ 1, got "0"');
  });

  it('merges shard tables: sums counts, keeps the worst, joins recoveries', () => {
    const a: Rows = new Map();
    const b: Rows = new Map();
    addTo(a, 'node-kill', stats(0, 2.5), 10);
    addTo(b, 'node-kill', stats(0, 4), undefined);
    addTo(b, 'cell-crash', stats(1, 0), 3);
    const all: Rows = new Map();
    mergeRows(all, a);
    mergeRows(all, b);
    expect(all.get('node-kill')).toMatchObject({ incidents: 2, timeouts: 1, recoveries: [10], retired: 2 });
    expect(totals(all)).toMatchObject({ incidents: 3, secretsLost: 1, worstBelowFloorS: 4, timeouts: 1 });
  });
});
