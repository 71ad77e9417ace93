// The user's program inside a cell (issue 13): the typed interface a program module exports
// (defineProgram), and the ProgramKey facade, the only view of the colony secret the program gets.
//
// The facade is a frozen object of closures over the ColonySecret; it holds no reference the
// program can follow back to the ColonySecret or its bytes. Its signatures are domain-separated from
// the runtime's own (src/api/program-signature.ts): sign() signs 'celula/program/v1\0' || data, and
// signTaproot() is BIP340 Schnorr under the Taproot-tweaked key, which no runtime verifier accepts.
import type { BitcoinNetwork } from '../api/bitcoin.js';
import { programSignedBytes } from '../api/program-signature.js';
import { hpkeOpen, hpkeSeal, type HpkeSealed } from './hpke.js';
import { ColonySecret, type HpkeBox, type ProgramKey } from './secret.js';

const EMPTY = new Uint8Array(0);

export function programKeyOf(secret: ColonySecret): ProgramKey {
  const decryptionPublicKey = secret.decryptionKey().publicKey;
  const facade: ProgramKey = {
    algorithm: secret.algorithm,
    publicKey: secret.publicKey,
    fingerprint: secret.fingerprint,
    get decryptionPublicKey(): Buffer {
      return Buffer.from(decryptionPublicKey);
    },
    sign: (data) => secret.sign(programSignedBytes(data)),
    verify: (data, signature) => secret.verify(programSignedBytes(data), signature),
    signTaproot: (digest) => secret.signTaproot(digest),
    derive: (label, length) => secret.derive(label, length),
    encrypt: (plaintext, aad) => secret.encrypt(plaintext, aad),
    decrypt: (box, aad) => secret.decrypt(box, aad),
    open: (box: HpkeBox, info = EMPTY, aad = EMPTY) =>
      hpkeOpen(secret.decryptionKey().privateKey, box, info, aad),
  };
  return Object.freeze(facade);
}

/** For anyone outside the colony: seal a message only the colony's program can open. */
export function sealToColony(
  decryptionPublicKey: Uint8Array,
  plaintext: Uint8Array,
  info: Uint8Array = EMPTY,
  aad: Uint8Array = EMPTY,
): Promise<HpkeSealed> {
  return hpkeSeal(decryptionPublicKey, plaintext, info, aad);
}

// ---------- the program interface ----------

/** What the program knows about where it runs: public facts only, and the narrow key. */
export interface ProgramContext {
  readonly key: ProgramKey;
  readonly colony: { readonly name: string; readonly namespace: string; readonly uid: string };
  /** secp256k1 colonies: the colony's P2TR address on spec.bitcoin.network (src/api/bitcoin.ts). */
  readonly bitcoin?: { readonly network: BitcoinNetwork; readonly address: string };
}

export interface ProgramRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** The parsed JSON body of a POST (undefined for GET). */
  readonly body: unknown;
}

export interface ProgramResponse {
  status: number;
  body: unknown;
}

export type RouteHandler = (
  req: ProgramRequest,
  ctx: ProgramContext,
) => ProgramResponse | Promise<ProgramResponse>;

/** Route keys are 'GET /path' or 'POST /path' (exact paths). */
export type Routes = Readonly<Record<string, RouteHandler>>;

export interface ProgramDefinition {
  /** Shown in the cell's log. */
  name: string;
  routes: Routes;
  /** Called once, after the cell holds the secret and before its routes are served. */
  onReady?: (ctx: ProgramContext) => void | Promise<void>;
}

/** A program as the runtime loads it: the module's default export, made by defineProgram. */
export interface Program extends Readonly<ProgramDefinition> {
  readonly [PROGRAM_BRAND]: true;
}

const PROGRAM_BRAND = Symbol.for('celula.io/program/v1');
const ROUTE_KEY = /^(GET|POST) (\/[A-Za-z0-9._~\-/]*)$/;

/** A refusal the program means: `status` (4xx) and `message` go back to the caller as they are. */
export class ProgramError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ProgramError';
    if (!Number.isInteger(status) || status < 400 || status > 499) {
      throw new Error(`ProgramError status must be a 4xx code, got ${status}`);
    }
    this.status = status;
  }
}

/** Validate and freeze a program definition; the program module's `export default defineProgram(…)`. */
export function defineProgram(def: ProgramDefinition): Program {
  if (typeof def.name !== 'string' || def.name.length === 0) throw new Error('a program needs a name');
  const keys = Object.keys(def.routes ?? {});
  if (keys.length === 0) throw new Error(`program ${def.name} defines no routes`);
  for (const key of keys) {
    if (!ROUTE_KEY.test(key)) {
      throw new Error(`program ${def.name}: route '${key}' must be 'GET /path' or 'POST /path'`);
    }
    if (typeof def.routes[key] !== 'function')
      throw new Error(`program ${def.name}: route '${key}' is not a function`);
  }
  if (def.onReady !== undefined && typeof def.onReady !== 'function') {
    throw new Error(`program ${def.name}: onReady must be a function`);
  }
  return Object.freeze({ ...def, routes: Object.freeze({ ...def.routes }), [PROGRAM_BRAND]: true as const });
}

export function isProgram(value: unknown): value is Program {
  return typeof value === 'object' && value !== null && (value as Program)[PROGRAM_BRAND] === true;
}
