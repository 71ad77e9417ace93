// The ProgramKey facade: the only view of the colony secret the user's program gets.
// It is a frozen object of closures over the ColonySecret; it holds no reference the program can
// follow back to the ColonySecret or its bytes.
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
    sign: (data) => secret.sign(data),
    verify: (data, signature) => secret.verify(data, signature),
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
