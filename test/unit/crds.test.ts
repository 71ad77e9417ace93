// crds/ is the source of truth for the schema; src/api/types.ts mirrors it. These checks keep the two
// consistent and keep the CRDs readable (`kubectl explain`), without an API server.
import { describe, expect, it } from '@jest/globals';
import { CRD_NAMES, loadCrdDocuments, loadCrds } from '../../src/api/crds.js';
import {
  ALGORITHMS,
  CELL_PHASES,
  CELL_PLURAL,
  COLONY_PLURAL,
  CellKind,
  ColonyKind,
  GROUP,
  LOCKDOWN_PARAMETERS_MAX_KEYS,
  LOCKDOWN_PARAMETERS_PLURAL,
  LockdownParametersKind,
  MAX_REPLICAS,
  NODE_PROVIDERS,
  SPREAD_KEYS,
  VERSION,
} from '../../src/api/types.js';

type Schema = {
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  enum?: unknown[];
  maximum?: number;
  maxProperties?: number;
  default?: unknown;
  'x-kubernetes-validations'?: { rule: string; message?: string; fieldPath?: string; reason?: string }[];
};

const crds = loadCrdDocuments();
const byName = new Map(crds.map((c) => [c.metadata!.name!, c]));
const schemaOf = (name: string): Schema =>
  byName.get(name)!.spec.versions[0]!.schema!.openAPIV3Schema as Schema;
const at = (s: Schema, path: string): Schema =>
  path.split('.').reduce<Schema>((acc, k) => {
    const next = acc.properties?.[k];
    if (!next) throw new Error(`no field ${path}`);
    return next;
  }, s);

describe('crds/', () => {
  it('holds the Colony, Cell and LockdownParameters CRDs of celula.io/v1alpha1', () => {
    expect([...byName.keys()].sort()).toEqual([...CRD_NAMES].sort());
    const col = byName.get(`${COLONY_PLURAL}.${GROUP}`)!;
    const cel = byName.get(`${CELL_PLURAL}.${GROUP}`)!;
    expect(col.spec.names.kind).toBe(ColonyKind);
    expect(cel.spec.names.kind).toBe(CellKind);
    for (const c of [col, cel]) {
      expect(c.spec.group).toBe(GROUP);
      expect(c.spec.scope).toBe('Namespaced');
      expect(c.spec.versions.map((v) => v.name)).toEqual([VERSION]);
      expect(c.spec.versions[0]!.subresources?.status).toEqual({});
    }
  });

  it('makes LockdownParameters a cluster-scoped, status-less CRD with a top-level data map', () => {
    const ldp = byName.get(`${LOCKDOWN_PARAMETERS_PLURAL}.${GROUP}`)!;
    expect(ldp.spec.names.kind).toBe(LockdownParametersKind);
    expect(ldp.spec.group).toBe(GROUP);
    expect(ldp.spec.scope).toBe('Cluster');
    expect(ldp.spec.versions.map((v) => v.name)).toEqual([VERSION]);
    expect(ldp.spec.versions[0]!.subresources).toBeUndefined();
    const data = at(schemaOf(ldp.metadata!.name!), 'data');
    expect(data.maxProperties).toBe(LOCKDOWN_PARAMETERS_MAX_KEYS);
    expect(data.additionalProperties).toMatchObject({ type: 'string' });
  });

  it('describes every field', () => {
    const missing: string[] = [];
    const walk = (path: string, s: Schema): void => {
      // metadata may declare nothing but its type: the API server forbids a description there.
      const isMetadata = CRD_NAMES.some((n) => path === `${n}.metadata`);
      if (!isMetadata && (typeof s.description !== 'string' || s.description.length === 0))
        missing.push(path);
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(`${path}.${k}`, v);
      if (s.items) walk(`${path}[]`, s.items);
      if (typeof s.additionalProperties === 'object') walk(`${path}{}`, s.additionalProperties);
    };
    for (const name of CRD_NAMES) walk(name, schemaOf(name));
    expect(missing).toEqual([]);
  });

  it('agrees with the enums and bounds in src/api/types.ts', () => {
    const col = schemaOf(`${COLONY_PLURAL}.${GROUP}`);
    expect(at(col, 'spec.secret.algorithm').enum).toEqual([...ALGORITHMS]);
    expect(at(col, 'spec.nodes.provider').enum).toEqual([...NODE_PROVIDERS]);
    expect(at(col, 'spec.placement.spreadKey').enum).toEqual([...SPREAD_KEYS]);
    expect(at(col, 'spec.replicas').maximum).toBe(MAX_REPLICAS);
    expect(at(col, 'spec.minReplicas').maximum).toBe(MAX_REPLICAS);
    expect(at(schemaOf(`${CELL_PLURAL}.${GROUP}`), 'status.phase').enum).toEqual([...CELL_PHASES]);
  });

  it('loads client-node model objects that keep defaults, enums and CEL rules', () => {
    const col = loadCrds().find((c) => c.metadata!.name === `${COLONY_PLURAL}.${GROUP}`)!;
    const spec = col.spec.versions[0]!.schema!.openAPIV3Schema!.properties!.spec!;
    expect(spec.properties!.replicas!._default).toBe(3);
    expect(spec.properties!.secret!.properties!.algorithm!._enum).toEqual([...ALGORITHMS]);
    expect(spec.x_kubernetes_validations?.length).toBeGreaterThan(0);
  });

  // Immutable fields: a transition rule (one that reads oldSelf) that forbids the change. Optional
  // fields carry it on spec, so that adding or removing them is a change too.
  it.each([
    ['spec.image', 'spec.image', '', 'image is immutable'],
    ['spec.secret.algorithm', 'spec.secret.algorithm', '', 'secret.algorithm is immutable'],
    ['spec.args', 'spec', '.args', 'args is immutable'],
    ['spec.nodes.provider', 'spec', '.nodes.provider', 'nodes.provider is immutable'],
    ['spec.nodes.provider (to unhardened)', 'spec', '.nodes.provider', 'cannot be changed to unhardened'],
  ])('makes %s immutable with a transition rule', (_field, holder, fieldPath, message) => {
    const rules = at(schemaOf(`${COLONY_PLURAL}.${GROUP}`), holder)['x-kubernetes-validations'] ?? [];
    const rule = rules.find((r) => (r.fieldPath ?? '') === fieldPath && r.message?.includes(message));
    expect(rule).toBeDefined();
    expect(rule!.rule).toContain('oldSelf');
    expect(rule!.reason).toBe('FieldValueForbidden');
  });

  it('says which spec fields are immutable in the spec description', () => {
    const spec = at(schemaOf(`${COLONY_PLURAL}.${GROUP}`), 'spec');
    for (const f of ['image', 'args', 'secret.algorithm', 'nodes.provider'])
      expect(spec.description).toContain(f);
  });

  it('declares the documented defaults', () => {
    const col = schemaOf(`${COLONY_PLURAL}.${GROUP}`);
    expect(at(col, 'spec.replicas').default).toBe(3);
    expect(at(col, 'spec.minReplicas').default).toBe(2);
    expect(at(col, 'spec.nodes.provider').default).toBe('adopt');
    expect(at(col, 'spec.placement.spreadKey').default).toBe('kubernetes.io/hostname');
    expect(at(col, 'spec.resources.cpu').default).toBe('500m');
    expect(at(col, 'spec.resources.memory').default).toBe('256Mi');
  });
});
