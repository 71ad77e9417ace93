// The lottery as a Celula program (issue 13): the module a lottery colony names in spec.program
// (compiled: dist/examples/lottery/program.js). Each cell loads it once it holds the secret and serves:
//   GET  /address  the colony's public key, its Bitcoin address and network (public data);
//   POST /draw     a draw (examples/lottery/lottery.ts DrawInput) → the signed payout transaction and
//                  the signed statement. Same draw → same bytes from every cell.
import { defineProgram, ProgramError, type ProgramContext } from '../../src/cell/program.js';
import { draw, DrawError } from './lottery.js';

function bitcoinOf(ctx: ProgramContext): NonNullable<ProgramContext['bitcoin']> {
  if (ctx.bitcoin === undefined) throw new Error('the lottery needs a secp256k1 colony (a Bitcoin key)');
  return ctx.bitcoin;
}

export default defineProgram({
  name: 'lottery',
  onReady: (ctx) => {
    bitcoinOf(ctx); // refuse to become ready on a colony whose key cannot pay anyone
  },
  routes: {
    'GET /address': (_req, ctx) => ({
      status: 200,
      body: { publicKey: ctx.key.publicKey, ...bitcoinOf(ctx) },
    }),
    'POST /draw': (req, ctx) => {
      try {
        return { status: 200, body: draw(ctx.key, bitcoinOf(ctx).network, req.body) };
      } catch (err) {
        if (err instanceof DrawError) throw new ProgramError(422, err.message);
        throw err;
      }
    },
  },
});
