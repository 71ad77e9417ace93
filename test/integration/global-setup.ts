// Starts ONE real control plane (etcd, kube-apiserver, controller-manager, scheduler; no nodes)
// for the whole integration run, in a fresh state dir, and exports how to reach it:
// CELULA_TEST_STATE, CELULA_TEST_KUBECONFIG, CELULA_TEST_SERVER (and test-runs/current.json).
// Throws when it cannot start: integration tests never skip.
//
// Jest loads this file through Node's own ESM loader, where jest's moduleNameMapper does not
// apply: `./x.js` imports of TypeScript sources would not resolve. So this file imports only
// builtins statically, registers a resolve hook that maps a missing `.js` to its `.ts` sibling
// (Node's type stripping loads it; test/cluster/ and support/ avoid non-erasable TS syntax), and
// then imports the harness dynamically. global-teardown.ts relies on the same hook.
import * as fs from 'node:fs';
import { registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

const HOOKED = Symbol.for('celula.tsResolveHook');

function registerTsResolution(): void {
  const g = globalThis as { [HOOKED]?: boolean };
  if (g[HOOKED]) return;
  g[HOOKED] = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const local = specifier.startsWith('.') || specifier.startsWith('file:');
      if (local && specifier.endsWith('.js') && context.parentURL) {
        const ts = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
        const js = new URL(specifier, context.parentURL);
        if (!fs.existsSync(fileURLToPath(js)) && fs.existsSync(fileURLToPath(ts))) {
          return nextResolve(ts.href, context);
        }
      }
      return nextResolve(specifier, context);
    },
  });
}

export default async function globalSetup(): Promise<void> {
  registerTsResolution();
  const { startRun } = await import('./support/run.js');
  await startRun();
}
