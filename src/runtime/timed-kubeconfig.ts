// Every API request the operator makes ends: a KubeConfig whose API clients abort a request that
// has not answered within a deadline. client-node sets no timeout of its own, so a request sent
// into a black hole (an API server whose host vanished, a network that drops packets instead of
// refusing them) would wait for the kernel to give up — many minutes — holding a reconcile worker
// or the leader elector's loop. Watches do not go through makeApiClient (they are long-lived on
// purpose; the informer bounds them itself, src/runtime/informer.ts).
import {
  createConfiguration,
  KubeConfig,
  Observable,
  ServerConfiguration,
  type ApiConstructor,
  type ApiType,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';

const of = <T>(value: T): Observable<T> => new Observable(Promise.resolve(value));

/** Default deadline of one API request (a list page of 500 objects answers well within it). */
export const REQUEST_TIMEOUT_MS = 20_000;

/** A middleware that gives each request an AbortSignal firing after `ms`: aborted on the wire. */
export function timeoutMiddleware(ms: number): ObservableMiddleware {
  return {
    pre: (request: RequestContext) => {
      request.setSignal(AbortSignal.timeout(ms));
      return of(request);
    },
    post: (response: ResponseContext) => of(response),
  };
}

export class TimedKubeConfig extends KubeConfig {
  constructor(readonly timeoutMs: number = REQUEST_TIMEOUT_MS) {
    super();
  }

  /** A copy of `kc` (clusters, users, contexts, current context) whose clients time out. */
  static from(kc: KubeConfig, timeoutMs: number = REQUEST_TIMEOUT_MS): TimedKubeConfig {
    const timed = new TimedKubeConfig(timeoutMs);
    timed.loadFromOptions({
      clusters: kc.clusters,
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    return timed;
  }

  override makeApiClient<T extends ApiType>(apiClientType: ApiConstructor<T>): T {
    const cluster = this.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const config = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: this },
      middleware: [timeoutMiddleware(this.timeoutMs)],
    });
    return new apiClientType(config);
  }
}
