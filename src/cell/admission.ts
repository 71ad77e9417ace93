// Admission of a joiner, after its token arrived over the session. In order:
//   1. verify the token (TokenReview, injected) and run the token checks (audience, namespace and
//      service account, credential id);
//   2. claim the token's JTI (a token is good for one proof, whatever happens next);
//   3. read the Colony fresh (injected) — a peer never loosens: hardening required at start stays
//      required — and look the pod up with its Cell and node (injected);
//   4. run the pod checks (checks.ts podChecks): pod identity, source address of the session, not
//      terminating, owner chain, image, hardened node, security context, the whole pod spec against
//      buildCellPod(fresh Colony, Cell), the Cell is a joiner of this pod that never held the secret,
//      and the session's key is the join key that pod's process published.
// The Kubernetes parts are interfaces the cell binary implements (kube.ts).
import { API_VERSION, CellKind, type Cell, type Colony } from '../api/types.js';
import { buildCellPod } from '../builders/pod.js';
import { requiresHardenedNodes } from '../builders/provider.js';
import {
  colonyCode,
  podChecks,
  tokenChecks,
  type ColonyContext,
  type PodFacts,
  type SessionFacts,
  type TokenFacts,
} from './checks.js';
import { clip, JoinRefused } from './errors.js';
import type { ReplayGuard } from './replay.js';

/**
 * Verifies a projected service-account token (TokenReview with audience celula.io/join).
 * Resolve with the facts of an authenticated token; throw JoinRefused('token-rejected', reason)
 * for an unauthenticated one. Any other error is reported as "token could not be verified".
 * Implementations must not put the token into error messages.
 */
export interface TokenVerifier {
  verify(token: string): Promise<TokenFacts>;
}

/**
 * Looks up the joining pod, its controller Cell, and its node's labels.
 * Resolve undefined when the pod does not exist.
 */
export interface PodInspector {
  inspect(namespace: string, podName: string): Promise<PodFacts | undefined>;
}

/** Reads the peer's Colony from the API (fresh, for every admission). */
export interface ColonySource {
  colony(): Promise<Colony>;
}

export interface AdmissionDeps {
  /** The colony as the peer knew it at start (its requirements never loosen). */
  colony: ColonyContext;
  colonySource: ColonySource;
  verifier: TokenVerifier;
  inspector: PodInspector;
  replay: ReplayGuard;
}

export interface Admitted {
  token: TokenFacts;
  facts: PodFacts;
}

async function verifyToken(token: string, verifier: TokenVerifier): Promise<TokenFacts> {
  try {
    return await verifier.verify(token);
  } catch (err) {
    if (err instanceof JoinRefused) throw err;
    throw new JoinRefused('token-rejected', 'token could not be verified');
  }
}

async function inspectPod(token: TokenFacts, inspector: PodInspector): Promise<PodFacts> {
  let facts: PodFacts | undefined;
  try {
    facts = await inspector.inspect(token.namespace, token.podName);
  } catch (err) {
    if (err instanceof JoinRefused) throw err;
    throw new JoinRefused('internal', 'pod lookup failed; try again');
  }
  if (facts === undefined) {
    throw new JoinRefused('pod-not-found', `pod ${token.namespace}/${token.podName} was not found`);
  }
  return facts;
}

/**
 * Pure: what the peer checks against — the fresh Colony, never looser than at start (a provider
 * switched to `unhardened` after start does not lift the hardened-node requirement) and running the
 * same code (colonyCode) as at start.
 */
export function currentContext(atStart: ColonyContext, fresh: Colony): ColonyContext {
  const uid = fresh.metadata.uid ?? '';
  if (uid !== atStart.uid) {
    throw new JoinRefused(
      'wrong-colony',
      `colony ${atStart.name} now has uid ${clip(uid)}, not ${atStart.uid}`,
    );
  }
  // The code is pinned to what this peer started with: a Colony whose image, args or program changed
  // (the CRD's immutability rules edited away, a conversion webhook) gets no joiner admitted.
  if (atStart.code !== undefined && colonyCode(fresh) !== atStart.code) {
    throw new JoinRefused(
      'colony-changed',
      `colony ${atStart.name} no longer runs the code this peer started with (image, args, program, algorithm or network changed)`,
    );
  }
  return {
    ...atStart,
    image: fresh.spec.image,
    requireHardened: atStart.requireHardened || requiresHardenedNodes(fresh),
  };
}

async function readColony(source: ColonySource): Promise<Colony> {
  try {
    return await source.colony();
  } catch {
    throw new JoinRefused('internal', 'reading the colony failed; try again');
  }
}

/** Pure: the spec buildCellPod makes for the fresh Colony and the pod's Cell (undefined without a Cell). */
export function expectedSpec(colony: Colony, cell: PodFacts['cell']): unknown {
  if (cell === undefined) return undefined;
  // The Cell as read from the API carries apiVersion and kind; the view may not (tests).
  return buildCellPod(colony, { apiVersion: API_VERSION, kind: CellKind, ...cell } as unknown as Cell).spec;
}

export async function admitJoiner(
  token: string,
  session: SessionFacts,
  deps: AdmissionDeps,
): Promise<Admitted> {
  const facts = await verifyToken(token, deps.verifier);
  const refusedToken = tokenChecks(facts, deps.colony);
  if (refusedToken) throw refusedToken;
  // The token is authentic: burn its JTI now, bound to this session's join key, so it is refused
  // next time with any other key whatever happens below (src/cell/replay.ts).
  const replayed = deps.replay.claim(facts.credentialId ?? '', facts.expiresAt, session.joinKey);
  if (replayed) throw replayed;
  const colony = await readColony(deps.colonySource);
  const context = currentContext(deps.colony, colony);
  const pod = await inspectPod(facts, deps.inspector);
  pod.expectedSpec = expectedSpec(colony, pod.cell);
  const refusedPod = podChecks(facts, pod, context, session);
  if (refusedPod) throw refusedPod;
  return { token: facts, facts: pod };
}
