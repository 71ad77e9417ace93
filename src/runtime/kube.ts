// Small helpers around @kubernetes/client-node 2.x: raw GETs of any path and object keys. HTTP
// status codes of errors are in src/observability/errors.ts.
import { ApiException, HttpMethod, KubernetesObjectApi, type KubeConfig } from '@kubernetes/client-node';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';

/** `namespace/name`, or `name` for cluster-scoped objects: the work-queue key. */
export function objectKey(obj: { metadata?: { namespace?: string; name?: string } }): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * GETs an arbitrary API path with the kubeconfig's server and credentials and returns the raw JSON
 * (no model deserialization: timestamps stay strings, like objects from a watch). Subclasses
 * KubernetesObjectApi only to reach its configured request pipeline (auth, TLS, middleware).
 */
export class RawClient extends KubernetesObjectApi {
  static fromKubeConfig(kc: KubeConfig): RawClient {
    return kc.makeApiClient(RawClient);
  }

  async getPath<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
    let ctx = this.configuration.baseServer.makeRequestContext(path, HttpMethod.GET);
    ctx.setHeaderParam('Accept', 'application/json');
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined) ctx.setQueryParam(k, v);
    }
    // Sent below the generated serializer on purpose: its generic path rebuilds list metadata as
    // V1ObjectMeta and drops `continue`, and turns timestamps into Dates.
    await this.configuration.authMethods.default?.applySecurityAuthentication(ctx);
    // The configured middleware too (a request deadline: src/runtime/timed-kubeconfig.ts).
    for (const m of this.configuration.middleware) ctx = await m.pre(ctx).toPromise();
    const rsp = await this.configuration.httpApi.send(ctx).toPromise();
    const text = await rsp.body.text();
    if (rsp.httpStatusCode < 200 || rsp.httpStatusCode > 299) {
      throw new ApiException(rsp.httpStatusCode, `GET ${path} failed`, safeParse(text), rsp.headers);
    }
    return JSON.parse(text) as T;
  }

  /** Lists a collection path, following `continue` pages. */
  async listPath<T extends KubernetesObject>(
    path: string,
    query: Record<string, string | undefined> = {},
  ): Promise<KubernetesListObject<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let last: KubernetesListObject<T>;
    do {
      last = await this.getPath<KubernetesListObject<T>>(path, { ...query, limit: '500', continue: cont });
      items.push(...(last.items ?? []));
      // Raw JSON: the wire name `continue`, not the model's `_continue`.
      cont = (last.metadata as { continue?: string } | undefined)?.continue;
    } while (cont);
    return { ...last, items };
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
