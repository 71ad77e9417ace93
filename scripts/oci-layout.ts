// Turns an extracted `docker save` archive (the legacy layout: manifest.json, <id>.json, <layer>/layer.tar)
// into an OCI image layout that names the image twice: by its tag and by its manifest digest
// (`docker.io/library/celula@sha256:<manifest>`). `ctr images import` (which `kind load image-archive`
// runs) creates an image record per name, so a Pod pinned to `repo@sha256:<manifest>` finds the image
// on the node with no registry. `docker save` + import alone gives no such `repo@digest` name.
//
// Usage: node scripts/oci-layout.ts <docker-save-dir> <out-dir> <name[:tag]>
// Prints the manifest digest (sha256:<hex>). Node 24 runs this file as is (erasable types only).
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

interface SavedImage {
  Config: string;
  Layers: string[];
}

function usageError(message: string): never {
  process.stderr.write(
    `oci-layout: ${message}\nUsage: node scripts/oci-layout.ts <docker-save-dir> <out-dir> <name[:tag]>\n`,
  );
  process.exit(2);
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Docker's normalisation: `celula:dev` → `docker.io/library/celula` + `dev`. */
function normalizeName(name: string): { repository: string; tag: string } {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  const [path, tag] = colon > slash ? [name.slice(0, colon), name.slice(colon + 1)] : [name, 'latest'];
  const first = path.split('/')[0] ?? '';
  const hasDomain =
    path.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain) return { repository: path, tag };
  return { repository: path.includes('/') ? `docker.io/${path}` : `docker.io/library/${path}`, tag };
}

/** Writes a blob under out/blobs/sha256 (copying `from`, or writing `data`) and describes it. */
function blob(out: string, mediaType: string, source: { from: string } | { data: Buffer }): Descriptor {
  const data = 'data' in source ? source.data : readFileSync(source.from);
  const digest = sha256(data);
  const path = join(out, 'blobs', 'sha256', digest.slice('sha256:'.length));
  if ('data' in source) writeFileSync(path, data);
  else copyFileSync(source.from, path);
  return { mediaType, digest, size: statSync(path).size };
}

function savedImage(dir: string): SavedImage {
  const entries = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as SavedImage[];
  if (entries.length !== 1 || entries[0] === undefined)
    usageError(`${dir}/manifest.json holds ${entries.length} images, want exactly 1`);
  return entries[0];
}

function writeLayout(dir: string, out: string, name: string): Descriptor {
  const saved = savedImage(dir);
  mkdirSync(join(out, 'blobs', 'sha256'), { recursive: true });
  const config = blob(out, CONFIG_TYPE, { from: join(dir, saved.Config) });
  const layers = saved.Layers.map((l) => blob(out, LAYER_TYPE, { from: join(dir, l) }));
  const manifest = { schemaVersion: 2, mediaType: MANIFEST_TYPE, config, layers };
  const desc = blob(out, MANIFEST_TYPE, { data: Buffer.from(JSON.stringify(manifest)) });
  const { repository, tag } = normalizeName(name);
  const named = (ref: string, extra: Record<string, string> = {}): Descriptor => ({
    ...desc,
    annotations: { 'io.containerd.image.name': ref, ...extra },
  });
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      named(`${repository}:${tag}`, { 'org.opencontainers.image.ref.name': tag }),
      named(`${repository}@${desc.digest}`),
    ],
  };
  writeFileSync(join(out, 'index.json'), JSON.stringify(index));
  writeFileSync(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return desc;
}

function main(argv: string[]): void {
  const [dir, out, name] = argv;
  if (dir === undefined || out === undefined || name === undefined || name === '')
    usageError('three arguments are required');
  process.stdout.write(`${writeLayout(dir, out, name).digest}\n`);
}

main(process.argv.slice(2));
