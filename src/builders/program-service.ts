// The colony's program Service (issue 13): one per colony with spec.program, selecting its cell pods
// on the program port. A Service sends traffic only to Ready endpoints, and a cell is Ready only when
// it holds the secret and its program is ready (src/cell/server.ts /readyz): so requests reach only
// holders. Any cell may answer, which is why a program must be deterministic. Pure.
import type { V1Service } from '@kubernetes/client-node';
import { DEFAULT_PROGRAM_PORT, type Colony } from '../api/types.js';
import { colonyLabels } from './labels.js';
import { boundedName } from './names.js';
import { controllerRef } from './owner.js';

/** The Service's own port (clients call http://<colony>-program.<namespace>/...). */
export const PROGRAM_SERVICE_PORT = 80;

/** `<colony>-program`, shortened with a hash when it would not fit 63 characters. */
export function programServiceName(colony: string): string {
  return boundedName(colony, 'program');
}

/** The program port of a colony, or undefined when it hosts no program. */
export function programPort(colony: Colony): number | undefined {
  const program = colony.spec.program;
  return program === undefined ? undefined : (program.port ?? DEFAULT_PROGRAM_PORT);
}

export function buildProgramService(colony: Colony): V1Service {
  const name = colony.metadata.name;
  const port = programPort(colony);
  if (!name || !colony.metadata.namespace || port === undefined) {
    throw new Error(
      'buildProgramService: the colony needs metadata.name, metadata.namespace and spec.program',
    );
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: programServiceName(name),
      namespace: colony.metadata.namespace,
      labels: colonyLabels(name),
      ownerReferences: [controllerRef(colony)],
    },
    spec: {
      type: 'ClusterIP',
      selector: colonyLabels(name),
      // Not-ready cells (not holding the secret, or their program not ready) get no traffic.
      publishNotReadyAddresses: false,
      ports: [{ name: 'program', protocol: 'TCP', port: PROGRAM_SERVICE_PORT, targetPort: 'program' }],
    },
  };
}
