// Loads the CustomResourceDefinitions from crds/ (the source of truth for the schema), for tests
// and the demo to install. crds/ is found by walking up from this module, so it works both from
// src/ (ts-jest) and from dist/src/ (compiled).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { GROUP, LOCKDOWN_PARAMETERS_PLURAL } from './types.js';

export const CRD_NAMES = [
  `colonies.${GROUP}`,
  `cells.${GROUP}`,
  `${LOCKDOWN_PARAMETERS_PLURAL}.${GROUP}`,
] as const;

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

/**
 * Every CustomResourceDefinition in `dir` (default: the repository's crds/), sorted by file name, as
 * client-node model objects ready to send (`ApiextensionsV1Api.createCustomResourceDefinition`).
 * Deserialized through client-node, so schema keys are its property names (`_default`, `_enum`,
 * `x_kubernetes_validations`): plain YAML objects would lose those keys when client-node serializes them.
 */
export function loadCrds(dir: string = crdDir()): V1CustomResourceDefinition[] {
  return crdFiles(dir).flatMap((f) =>
    checked(f, loadAllYaml(readFileSync(f, 'utf8')) as V1CustomResourceDefinition[]),
  );
}

/** The same CRDs as plain YAML documents (schema keys as written: `default`, `enum`, `x-kubernetes-validations`). */
export function loadCrdDocuments(dir: string = crdDir()): V1CustomResourceDefinition[] {
  return crdFiles(dir).flatMap((f) =>
    checked(f, yaml.loadAll(readFileSync(f, 'utf8')) as V1CustomResourceDefinition[]),
  );
}

function crdFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => resolve(dir, f));
}

function checked(
  file: string,
  docs: (V1CustomResourceDefinition | null | undefined)[],
): V1CustomResourceDefinition[] {
  const crds = docs.filter((d): d is V1CustomResourceDefinition => d !== null && d !== undefined);
  for (const obj of crds) {
    if (obj.kind !== 'CustomResourceDefinition') {
      throw new Error(`${file}: expected a CustomResourceDefinition, got ${String(obj.kind)}`);
    }
  }
  return crds;
}
