// Admission of a joiner, after its token arrived over the session: verify the token (TokenReview,
// injected), run the token checks, claim the JTI, look the pod up (injected), run the pod checks.
// The Kubernetes parts are interfaces the operator's cell binary implements.
import { podChecks, tokenChecks, type ColonyContext, type PodFacts, type TokenFacts } from './checks.js';
import { JoinRefused } from './errors.js';
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

export interface AdmissionDeps {
  colony: ColonyContext;
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

export async function admitJoiner(token: string, deps: AdmissionDeps): Promise<Admitted> {
  const facts = await verifyToken(token, deps.verifier);
  const refusedToken = tokenChecks(facts, deps.colony);
  if (refusedToken) throw refusedToken;
  // The token is authentic: burn its JTI now, so it is refused next time whatever happens below.
  const replayed = deps.replay.claim(facts.credentialId ?? '', facts.expiresAt);
  if (replayed) throw replayed;
  const pod = await inspectPod(facts, deps.inspector);
  const refusedPod = podChecks(facts, pod, deps.colony);
  if (refusedPod) throw refusedPod;
  return { token: facts, facts: pod };
}
