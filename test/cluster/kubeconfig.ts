// Kubeconfig files for the local control plane (self-contained: certs embedded as data).
import * as fs from 'node:fs';
import yaml from 'js-yaml';

export interface KubeconfigUser {
  /** Client certificate and key files (PEM). */
  cert?: string;
  key?: string;
  /** A bearer token (e.g. from the TokenRequest API). */
  token?: string;
}

export interface KubeconfigSpec {
  server: string;
  caFile: string;
  userName: string;
  user: KubeconfigUser;
  namespace?: string;
}

const b64 = (file: string): string => fs.readFileSync(file).toString('base64');

function userEntry(user: KubeconfigUser): Record<string, string> {
  if (user.token !== undefined) return { token: user.token };
  if (user.cert === undefined || user.key === undefined)
    throw new Error('kubeconfig user needs a token or cert+key');
  return { 'client-certificate-data': b64(user.cert), 'client-key-data': b64(user.key) };
}

/** The kubeconfig document as YAML text. */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const context: Record<string, string> = { cluster: 'celula', user: spec.userName };
  if (spec.namespace !== undefined) context.namespace = spec.namespace;
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'celula', cluster: { server: spec.server, 'certificate-authority-data': b64(spec.caFile) } },
    ],
    users: [{ name: spec.userName, user: userEntry(spec.user) }],
    contexts: [{ name: 'celula', context }],
    'current-context': 'celula',
  });
}

/** Writes a kubeconfig (mode 0600) and returns its path. */
export function writeKubeconfig(file: string, spec: KubeconfigSpec): string {
  fs.writeFileSync(file, renderKubeconfig(spec), { mode: 0o600 });
  return file;
}
