// Graceful shutdown on SIGTERM/SIGINT: run the registered steps in order (stop informers, drain
// queues, release the lease), each bounded by a deadline, then exit. A second signal exits at once.
import type { Logger } from '../observability/logger.js';
import { describeError } from '../observability/errors.js';

export interface ShutdownStep {
  name: string;
  run: () => Promise<void>;
}

export interface ShutdownOptions {
  logger: Logger;
  /** Whole-shutdown deadline; default 20 s (inside Kubernetes' 30 s grace period). */
  timeoutMs?: number;
  signals?: NodeJS.Signals[];
  /** Injected for tests; defaults to process.exit. */
  exit?: (code: number) => void;
  /** Injected for tests; defaults to process. */
  emitter?: Pick<NodeJS.Process, 'once' | 'removeListener'>;
}

export class GracefulShutdown {
  private readonly steps: ShutdownStep[] = [];
  private running: Promise<void> | undefined;
  private readonly handler = (sig: NodeJS.Signals): void => this.onSignal(sig);

  constructor(private readonly opts: ShutdownOptions) {}

  /** Adds a step; steps run in the order added. */
  add(name: string, run: () => Promise<void>): this {
    this.steps.push({ name, run });
    return this;
  }

  install(): this {
    const em = this.opts.emitter ?? process;
    for (const s of this.opts.signals ?? ['SIGTERM', 'SIGINT']) em.once(s, this.handler);
    return this;
  }

  /** Runs every step once (later calls share the first run). Steps that fail are logged and skipped. */
  run(reason: string): Promise<void> {
    this.running ??= this.runSteps(reason);
    return this.running;
  }

  private onSignal(sig: NodeJS.Signals): void {
    const exit = this.opts.exit ?? ((code: number) => process.exit(code));
    if (this.running) {
      this.opts.logger.warn({ signal: sig }, 'second signal; exiting now');
      exit(1);
      return;
    }
    const em = this.opts.emitter ?? process;
    for (const s of this.opts.signals ?? ['SIGTERM', 'SIGINT']) if (s !== sig) em.once(s, this.handler);
    void this.withDeadline(this.run(sig)).then((ok) => exit(ok ? 0 : 1));
  }

  private async withDeadline(p: Promise<void>): Promise<boolean> {
    const ms = this.opts.timeoutMs ?? 20_000;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      timer.unref();
    });
    const ok = await Promise.race([p.then(() => true), deadline]);
    clearTimeout(timer);
    if (!ok) this.opts.logger.error({ timeoutMs: ms }, 'shutdown deadline passed');
    return ok;
  }

  private async runSteps(reason: string): Promise<void> {
    const log = this.opts.logger;
    log.info({ reason }, 'shutting down');
    for (const step of this.steps) {
      try {
        await step.run();
        log.info({ step: step.name }, 'shutdown step done');
      } catch (err) {
        log.error({ step: step.name, err: describeError(err) }, 'shutdown step failed');
      }
    }
  }
}
