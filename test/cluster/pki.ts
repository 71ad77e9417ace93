// A throwaway PKI for the local control plane, made with the openssl CLI: one CA, the apiserver's
// serving cert, client certs for each identity, and the service-account signing key pair.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CertPaths {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: CertPaths;
  apiserver: CertPaths;
  /** ECDSA P-256 key pair that signs and verifies service-account tokens. */
  serviceAccount: { key: string; pub: string };
}

/** Names and SANs the apiserver's serving certificate covers. */
export const APISERVER_SANS = [
  'IP:127.0.0.1',
  'IP:10.96.0.1',
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
];

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0] ?? ''} failed: ${e.stderr?.toString() ?? e.message}`, {
      cause: err,
    });
  }
}

function newKey(dir: string, name: string): string {
  const key = path.join(dir, `${name}.key`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], dir);
  fs.chmodSync(key, 0o600);
  return key;
}

/** The subject string openssl wants: `/O=g1/O=g2/CN=name`. Slashes and commas are not allowed. */
function subject(cn: string, orgs: string[]): string {
  for (const s of [cn, ...orgs]) {
    if (/[/,=+\\]/.test(s)) throw new Error(`unsupported character in certificate name ${s}`);
  }
  return [...orgs.map((o) => `/O=${o}`), `/CN=${cn}`].join('');
}

/** Issues a cert signed by the CA; `ext` are x509v3 extension lines. */
function issue(pki: Pick<Pki, 'dir' | 'ca'>, name: string, subj: string, ext: string[]): CertPaths {
  const key = newKey(pki.dir, name);
  const csr = path.join(pki.dir, `${name}.csr`);
  const extFile = path.join(pki.dir, `${name}.ext`);
  const cert = path.join(pki.dir, `${name}.crt`);
  openssl(['req', '-new', '-key', key, '-subj', subj, '-out', csr], pki.dir);
  fs.writeFileSync(extFile, ext.join('\n') + '\n');
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      pki.ca.cert,
      '-CAkey',
      pki.ca.key,
      '-CAcreateserial',
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      extFile,
      '-out',
      cert,
    ],
    pki.dir,
  );
  fs.rmSync(csr, { force: true });
  fs.rmSync(extFile, { force: true });
  return { cert, key };
}

/** A client certificate (CN = user name, O = groups) signed by the cluster CA. */
export function issueClientCert(
  pki: Pick<Pki, 'dir' | 'ca'>,
  file: string,
  user: string,
  groups: string[],
): CertPaths {
  return issue(pki, file, subject(user, groups), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ]);
}

/** Loads the PKI in `dir`, creating whatever is missing. */
export function ensurePki(dir: string): Pki {
  fs.mkdirSync(dir, { recursive: true });
  const ca = { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
  if (!fs.existsSync(ca.cert)) {
    newKey(dir, 'ca');
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-key',
        ca.key,
        '-subj',
        '/CN=celula-local-ca',
        '-days',
        '3650',
        '-sha256',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-out',
        ca.cert,
      ],
      dir,
    );
  }
  const base = { dir, ca };
  let apiserver = { cert: path.join(dir, 'apiserver.crt'), key: path.join(dir, 'apiserver.key') };
  if (!fs.existsSync(apiserver.cert)) {
    apiserver = issue(base, 'apiserver', '/CN=kube-apiserver', [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${APISERVER_SANS.join(',')}`,
    ]);
  }
  const sa = { key: path.join(dir, 'sa.key'), pub: path.join(dir, 'sa.pub') };
  if (!fs.existsSync(sa.pub)) {
    newKey(dir, 'sa');
    openssl(['pkey', '-in', sa.key, '-pubout', '-out', sa.pub], dir);
  }
  return { dir, ca, apiserver, serviceAccount: sa };
}

/** The client cert for a fixed identity file name, issued once. */
export function ensureClientCert(pki: Pki, file: string, user: string, groups: string[]): CertPaths {
  const existing = { cert: path.join(pki.dir, `${file}.crt`), key: path.join(pki.dir, `${file}.key`) };
  if (fs.existsSync(existing.cert) && fs.existsSync(existing.key)) return existing;
  return issueClientCert(pki, file, user, groups);
}
