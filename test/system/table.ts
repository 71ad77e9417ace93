// The chaos suite's per-fault table: rows added incident by incident, merged across shards, printed.
import type { IncidentStats } from './monitor.js';

/** A fault's totals: the incident stats summed (worst times kept), plus counts and recovery times. */
export type Row = Omit<IncidentStats, 'notes'> & {
  incidents: number;
  recoveries: number[];
  timeouts: number;
};

export type Rows = Map<string, Row>;

function emptyRow(): Row {
  return {
    incidents: 0,
    secretsLost: 0,
    wronglyKilled: 0,
    fingerprintChanges: 0,
    retired: 0,
    worstBelowFloorS: 0,
    worstFloorUnmetS: 0,
    recoveries: [],
    timeouts: 0,
  };
}

function mergeRow(a: Row, b: Row): Row {
  return {
    incidents: a.incidents + b.incidents,
    secretsLost: a.secretsLost + b.secretsLost,
    wronglyKilled: a.wronglyKilled + b.wronglyKilled,
    fingerprintChanges: a.fingerprintChanges + b.fingerprintChanges,
    retired: a.retired + b.retired,
    worstBelowFloorS: Math.max(a.worstBelowFloorS, b.worstBelowFloorS),
    worstFloorUnmetS: Math.max(a.worstFloorUnmetS, b.worstFloorUnmetS),
    recoveries: [...a.recoveries, ...b.recoveries],
    timeouts: a.timeouts + b.timeouts,
  };
}

export function addTo(rows: Rows, fault: string, s: IncidentStats, recovery: number | undefined): void {
  const one: Row = {
    ...emptyRow(),
    incidents: 1,
    secretsLost: s.secretsLost,
    wronglyKilled: s.wronglyKilled,
    fingerprintChanges: s.fingerprintChanges,
    retired: s.retired,
    worstBelowFloorS: s.worstBelowFloorS,
    worstFloorUnmetS: s.worstFloorUnmetS,
    recoveries: recovery === undefined ? [] : [recovery],
    timeouts: recovery === undefined ? 1 : 0,
  };
  rows.set(fault, mergeRow(rows.get(fault) ?? emptyRow(), one));
}

/** Adds every row of `from` into `into` (a shard's table into the run's). */
export function mergeRows(into: Rows, from: Rows): void {
  for (const [fault, r] of from) into.set(fault, mergeRow(into.get(fault) ?? emptyRow(), r));
}

export function rowsToJson(rows: Rows): string {
  return JSON.stringify(Object.fromEntries(rows));
}

export function rowsFromJson(text: string): Rows {
  const parsed = JSON.parse(text) as Record<string, Row>;
  return new Map(Object.entries(parsed));
}

export function table(rows: Rows): string[] {
  const head = [
    'fault',
    'incidents',
    'secrets_lost',
    'holders_wrongly_killed',
    'fingerprint_changes',
    'worst_below_floor_s',
    'worst_floor_unmet_s',
    'mean_recovery_s',
    'max_recovery_s',
    'timeouts',
    'retired',
  ];
  const body = [...rows].map(([name, r]) => {
    const mean = r.recoveries.length ? r.recoveries.reduce((a, b) => a + b, 0) / r.recoveries.length : NaN;
    return [
      name,
      r.incidents,
      r.secretsLost,
      r.wronglyKilled,
      r.fingerprintChanges,
      r.worstBelowFloorS.toFixed(1),
      r.worstFloorUnmetS.toFixed(1),
      mean.toFixed(1),
      Math.max(0, ...r.recoveries).toFixed(1),
      r.timeouts,
      r.retired,
    ].map(String);
  });
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cols) =>
    cols
      .map((c, i) => c.padEnd(width[i]!))
      .join('  ')
      .trimEnd(),
  );
}

export interface Totals {
  incidents: number;
  secretsLost: number;
  wronglyKilled: number;
  fingerprintChanges: number;
  timeouts: number;
  worstBelowFloorS: number;
}

export function totals(rows: Rows): Totals {
  const all = [...rows.values()];
  const sum = (f: (r: Row) => number): number => all.reduce((a, r) => a + f(r), 0);
  return {
    incidents: sum((r) => r.incidents),
    secretsLost: sum((r) => r.secretsLost),
    wronglyKilled: sum((r) => r.wronglyKilled),
    fingerprintChanges: sum((r) => r.fingerprintChanges),
    timeouts: sum((r) => r.timeouts),
    worstBelowFloorS: Math.max(0, ...all.map((r) => r.worstBelowFloorS)),
  };
}
