// A real Bitcoin node for the lottery test and demo (issue 13): btcd --regtest on loopback, built by
// test/cluster/build-btcd.sh into $CELULA_CACHE/bin. It validates every script and signature; nothing
// about the chain is mocked. Talks JSON-RPC over HTTP (btcd --notls, loopback only).
//
// btcd mines with `generate N` to the address given at start (--miningaddr), so a node is started for
// one colony address; regtest coinbases mature after 100 blocks.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { cacheDir } from '../cluster/controlplane.js';
import { freePort, logTail, sleep, spawnComponent, stopProcess, type PidRecord } from '../cluster/procs.js';

export interface BtcdOptions {
  /** Every coinbase pays this address (the colony's). */
  miningAddress: string;
  /** btcd's data goes in <stateDir>/btcd, its log in <stateDir>/logs/btcd.log, its pid in <stateDir>/pids. */
  stateDir: string;
}

export interface RegtestUtxo {
  txid: string;
  vout: number;
  sats: string;
}

export const COINBASE_MATURITY = 100;

/**
 * The btcd binary, built by test/cluster/build-btcd.sh when missing (≈ 20 s cold; `npm run
 * cluster:build` runs it too), under the cache's build lock like the control plane's build.
 */
export function btcdBinary(): string {
  const bin = path.join(cacheDir(), 'bin', 'btcd');
  if (fs.existsSync(bin)) return bin;
  const script = path.resolve('test/cluster/build-btcd.sh');
  const res = spawnSync('flock', [path.join(cacheDir(), 'build.lock'), 'bash', script], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (res.status !== 0 || !fs.existsSync(bin)) {
    throw new Error(`${bin} is missing and ${script} failed (exit ${res.status ?? 'signal'})`);
  }
  return bin;
}

export class Btcd {
  readonly #opts: BtcdOptions;
  readonly #rec: PidRecord;
  readonly #url: string;
  readonly #auth: string;
  readonly #rpcPort: number;
  readonly #password: string;
  #id = 0;

  private constructor(opts: BtcdOptions, rec: PidRecord, rpcPort: number, password: string) {
    this.#opts = opts;
    this.#rec = rec;
    this.#url = `http://127.0.0.1:${rpcPort}/`;
    this.#auth = `Basic ${Buffer.from(`celula:${password}`).toString('base64')}`;
    this.#rpcPort = rpcPort;
    this.#password = password;
  }

  get stateDir(): string {
    return this.#opts.stateDir;
  }

  /** A btcctl command line that talks to this node (regtest RPC credentials, printed by the demo). */
  btcctl(): string {
    const bin = path.join(cacheDir(), 'bin', 'btcctl');
    const conf = path.join(this.#opts.stateDir, 'btcd', 'btcd.conf');
    return `${bin} -C ${conf} --regtest --notls --rpcserver=127.0.0.1:${this.#rpcPort} --rpcuser=celula --rpcpass=${this.#password}`;
  }

  /** Start btcd --regtest on loopback and wait until its RPC answers. */
  static async start(opts: BtcdOptions): Promise<Btcd> {
    const [rpcPort, p2pPort] = [await freePort(), await freePort()];
    const password = Math.random().toString(36).slice(2);
    fs.mkdirSync(path.join(opts.stateDir, 'btcd'), { recursive: true });
    const conf = path.join(opts.stateDir, 'btcd', 'btcd.conf');
    fs.writeFileSync(conf, '');
    const rec = spawnComponent({
      name: 'btcd',
      bin: btcdBinary(),
      args: [
        '--regtest',
        `--configfile=${conf}`,
        `--datadir=${path.join(opts.stateDir, 'btcd', 'data')}`,
        `--logdir=${path.join(opts.stateDir, 'btcd', 'logs')}`,
        `--rpclisten=127.0.0.1:${rpcPort}`,
        `--listen=127.0.0.1:${p2pPort}`,
        '--notls',
        '--rpcuser=celula',
        `--rpcpass=${password}`,
        `--miningaddr=${opts.miningAddress}`,
        '--txindex',
        '--nodnsseed',
      ],
      stateDir: opts.stateDir,
    });
    const node = new Btcd(opts, rec, rpcPort, password);
    await node.#waitReady();
    return node;
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await this.rpc('getblockcount');
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          throw new Error(
            `btcd did not answer RPC in 30 s: ${String(err)}\n${logTail(this.#opts.stateDir, 'btcd')}`,
            { cause: err },
          );
        }
        await sleep(250);
      }
    }
  }

  async rpc<T = unknown>(method: string, ...params: unknown[]): Promise<T> {
    this.#id += 1;
    const res = await fetch(this.#url, {
      method: 'POST',
      headers: { authorization: this.#auth, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '1.0', id: this.#id, method, params }),
    });
    const text = await res.text();
    let body: { result?: T; error?: { code: number; message: string } | null };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new Error(`btcd ${method}: HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    if (body.error) throw new Error(`btcd ${method}: ${body.error.message} (code ${body.error.code})`);
    return body.result as T;
  }

  /** Mine `n` blocks (to the mining address); their hashes. */
  generate(n: number): Promise<string[]> {
    return this.rpc<string[]>('generate', n);
  }

  /** The coinbase output of the block at `height` (paying the mining address). */
  async coinbaseAt(height: number): Promise<RegtestUtxo> {
    const hash = await this.rpc<string>('getblockhash', height);
    const block = await this.rpc<{ tx: string[] }>('getblock', hash);
    const txid = block.tx[0];
    if (txid === undefined) throw new Error(`block ${height} has no transactions`);
    const tx = await this.rpc<{ vout: Array<{ value: number; n: number }> }>('getrawtransaction', txid, 1);
    const out = tx.vout[0];
    if (out === undefined) throw new Error(`coinbase ${txid} has no outputs`);
    return { txid, vout: out.n, sats: String(Math.round(out.value * 1e8)) };
  }

  /** An unspent output (gettxout), or undefined when spent or unknown. */
  txOut(
    txid: string,
    vout: number,
  ): Promise<{
    confirmations: number;
    value: number;
    scriptPubKey: { address?: string; addresses?: string[] };
  } | null> {
    return this.rpc('gettxout', txid, vout, false);
  }

  async stop(): Promise<void> {
    await stopProcess(this.#rec, 5000);
  }
}
