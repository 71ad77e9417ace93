// The colony's Bitcoin address (issue 13), from its public key alone. Pure.
//
// P2TR (Taproot, BIP341) with the BIP86 key-path-only tweak, not P2WPKH, because:
// - key separation: the address's key is the colony key tweaked by a public hash, so the Schnorr
//   signatures that spend from it are made with a key and an algorithm the runtime never uses for its
//   own statements (ECDSA with the untweaked key: join challenge, attestation, key proof). A P2WPKH
//   spend would be ECDSA with the very key the peers verify, leaving only the message hash between a
//   payout signature and a runtime signature;
// - BIP340 signatures are deterministic given fixed aux randomness, so every cell signs the same
//   payout to the same bytes; and a key-path spend looks like any single-key Taproot output.
// Anyone recomputes the address from Colony.status.publicKey with any BIP86 implementation.
import { p2tr } from '@scure/btc-signer/payment.js';
import { NETWORK, TEST_NETWORK, type BTC_NETWORK } from '@scure/btc-signer/utils.js';

import { parsePublicKey } from './identity.js';

export const BITCOIN_NETWORKS = ['mainnet', 'testnet', 'regtest'] as const;
export type BitcoinNetwork = (typeof BITCOIN_NETWORKS)[number];
export const DEFAULT_BITCOIN_NETWORK: BitcoinNetwork = 'mainnet';

const REGTEST: BTC_NETWORK = { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };

/** The btc-signer parameters of a network name; throws naming the allowed values on anything else. */
export function bitcoinNetworkParams(network: string): BTC_NETWORK {
  if (network === 'mainnet') return NETWORK;
  if (network === 'testnet') return TEST_NETWORK;
  if (network === 'regtest') return REGTEST;
  throw new Error(`bitcoin network must be one of ${BITCOIN_NETWORKS.join(', ')}, not '${network}'`);
}

/** The x-only (32-byte) internal key of a secp256k1 colony public key (`secp256k1:<base64>`). */
export function taprootInternalKey(publicKey: string): Uint8Array {
  const identity = parsePublicKey(publicKey);
  if (identity.algorithm !== 'secp256k1') {
    throw new Error(`a Bitcoin address needs a secp256k1 colony key, not ${identity.algorithm}`);
  }
  return Uint8Array.from(identity.key.subarray(1));
}

/** The colony's P2TR (BIP86) payment: address and output script. */
export function colonyPayment(
  publicKey: string,
  network: string,
): { address: string; script: Uint8Array; internalKey: Uint8Array; tweakedPubkey: Uint8Array } {
  const internalKey = taprootInternalKey(publicKey);
  const pay = p2tr(internalKey, undefined, bitcoinNetworkParams(network));
  if (pay.address === undefined) throw new Error('p2tr gave no address');
  return { address: pay.address, script: pay.script, internalKey, tweakedPubkey: pay.tweakedPubkey };
}

/** The colony's P2TR address on `network`. */
export function colonyBitcoinAddress(publicKey: string, network: string): string {
  return colonyPayment(publicKey, network).address;
}
