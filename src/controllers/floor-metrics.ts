// Metrics for the floor: holders heard / unreachable and newcomers per colony against its floor, and
// cell deaths by proven reason. One series per colony and state: 3 × colonies, bounded by the
// colonies that exist (a deleted colony's series are removed).
import { Counter, Gauge, type Registry } from 'prom-client';

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
}

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
  return {
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
