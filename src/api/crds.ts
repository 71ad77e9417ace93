// Loads the CustomResourceDefinitions from crds/ (the source of truth for the schema), for tests
// and the demo to install. crds/ is found by walking up from this module, so it works both from
// src/ (ts-jest) and from dist/src/ (compiled).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { GROUP } from './types.js';

export const CRD_NAMES = [`colonies.${GROUP}`, `cells.${GROUP}`] as const;

/** The repository's crds/ directory, found by walking up from this module. */
export function crdDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'crds');
    if (existsSync(join(candidate, `${CRD_NAMES[0]}.yaml`))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('crds/ directory not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** Every CustomResourceDefinition in `dir` (default: the repository's crds/), sorted by file name. */
export function loadCrds(dir: string = crdDir()): V1CustomResourceDefinition[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort();
  const crds: V1CustomResourceDefinition[] = [];
  for (const f of files) {
    for (const doc of yaml.loadAll(readFileSync(resolve(dir, f), 'utf8'))) {
      if (doc === null || doc === undefined) continue;
      const obj = doc as V1CustomResourceDefinition;
      if (obj.kind !== 'CustomResourceDefinition') {
        throw new Error(`${f}: expected a CustomResourceDefinition, got ${String(obj.kind)}`);
      }
      crds.push(obj);
    }
  }
  return crds;
}
