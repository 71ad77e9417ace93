// Metrics for the floor: holders heard / unreachable and newcomers per colony against its floor, and
// cell deaths by proven reason. One series per colony and state: 3 × colonies, bounded by the
// colonies that exist (a deleted colony's series are removed).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface FloorCounts {
  alive: number;
  unreachable: number;
  joining: number;
  minReplicas: number;
}

export interface FloorMetrics {
  colony(namespace: string, name: string, c: FloorCounts): void;
  forget(namespace: string, name: string): void;
  cellDied(reason: string): void;
  /** A cell held the secret for the first time, `seconds` after its Cell was created. */
  joined(seconds: number): void;
  /** A seeded colony's heard holders are back at the floor, `seconds` after they fell below it. */
  floorRestored(seconds: number): void;
}

/** Seconds: a local join takes well under one; a node loss with a kubelet's Lease is tens. */
const BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300];

const STATES = ['heard', 'unreachable', 'joining'] as const;

export function floorMetrics(registry: Registry): FloorMetrics {
  const registers = [registry];
  const cells = new Gauge({
    name: 'celula_colony_cells',
    help: 'Cells per colony by state: heard (holders Alive), unreachable (holders not heard), joining (hold nothing yet).',
    labelNames: ['namespace', 'colony', 'state'],
    registers,
  });
  const floor = new Gauge({
    name: 'celula_colony_floor',
    help: 'The colony floor (spec.minReplicas): heard holders below it make the colony Degraded.',
    labelNames: ['namespace', 'colony'],
    registers,
  });
  const deaths = new Counter({
    name: 'celula_cell_deaths_total',
    help: 'Cells found Dead, by the proof (PodEnded, PodVanished, PodReplaced, NodeGone, NodeOutOfService, NodeLost for cells that held nothing yet, ...).',
    labelNames: ['reason'],
    registers,
  });
  const joins = new Histogram({
    name: 'celula_cell_join_seconds',
    help: 'From a Cell created to its cell holding the secret (genesis: generating it; others: the join handshake, pod start included).',
    buckets: BUCKETS,
    registers,
  });
  const recoveries = new Histogram({
    name: 'celula_colony_floor_recovery_seconds',
    help: 'From heard holders falling below the floor (suspicion or death) to the floor met again.',
    buckets: BUCKETS,
    registers,
  });
  return {
    joined: (seconds) => joins.observe(seconds),
    floorRestored: (seconds) => recoveries.observe(seconds),
    colony: (namespace, name, c) => {
      const values = { heard: c.alive, unreachable: c.unreachable, joining: c.joining };
      for (const state of STATES) cells.set({ namespace, colony: name, state }, values[state]);
      floor.set({ namespace, colony: name }, c.minReplicas);
    },
    forget: (namespace, name) => {
      for (const state of STATES) cells.remove({ namespace, colony: name, state });
      floor.remove({ namespace, colony: name });
    },
    cellDied: (reason) => deaths.inc({ reason }),
  };
}
