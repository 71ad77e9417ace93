// The joiner's pod spec against what the operator's builder makes for this Colony and Cell
// (buildCellPod). The image digest pins the code only together with everything that decides what the
// container runs: command, args, env, volumes, security context, service account, host namespaces.
// Pure. A difference is reported by field path and entry NAME only — never a value, since an env
// value or a volume source could be sensitive.
//
// Ignored, because the API server, admission plugins or the kubelet may set them on a genuine pod:
// imagePullPolicy, terminationMessagePath/Policy, resizePolicy, dnsPolicy, schedulerName, priority,
// tolerations, nodeName (checked against the token instead), labels and annotations. Inside the
// compared fields, a key the builder leaves unset may carry only its API default (DEFAULTS).

export interface SpecDifference {
  /** e.g. `spec.containers[cell].env[NODE_OPTIONS]` */
  path: string;
  what: string;
}

type Obj = Record<string, unknown>;

const POD_FIELDS = [
  'serviceAccountName',
  'automountServiceAccountToken',
  'securityContext',
  'hostNetwork',
  'hostPID',
  'hostIPC',
  'hostUsers',
  'shareProcessNamespace',
  'runtimeClassName',
  'volumes',
  'initContainers',
  'containers',
  'ephemeralContainers',
] as const;

const CONTAINER_FIELDS = [
  'name',
  'image',
  'command',
  'args',
  'workingDir',
  'env',
  'envFrom',
  'volumeMounts',
  'volumeDevices',
  'securityContext',
  'ports',
  'resources',
  'lifecycle',
  'livenessProbe',
  'readinessProbe',
  'startupProbe',
  'restartPolicy',
  'stdin',
  'stdinOnce',
  'tty',
] as const;

/** API defaults a genuine pod may carry where the builder left the key unset. */
const DEFAULTS: Readonly<Record<string, unknown>> = {
  defaultMode: 420, // volume sources
  apiVersion: 'v1', // fieldRef
  protocol: 'TCP', // ports
  scheme: 'HTTP', // httpGet probes
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
  periodSeconds: 10,
};

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Unset, false, or empty: what an unset field may look like after a round trip through the API. */
function isUnsetLike(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return isObj(v) && Object.values(v).every((x) => x === undefined);
}

function nameOf(v: unknown): string | undefined {
  return isObj(v) && typeof v.name === 'string' ? v.name : undefined;
}

function pick(o: unknown, fields: readonly string[]): Obj {
  const src = isObj(o) ? o : {};
  return Object.fromEntries(fields.map((f) => [f, src[f]]));
}

function diffNamed(exp: unknown[], act: unknown[], path: string): SpecDifference | undefined {
  const en = exp.map(nameOf);
  const an = act.map(nameOf);
  const extra = an.find((n) => !en.includes(n));
  if (extra !== undefined)
    return { path: `${path}[${extra}]`, what: 'is not in the pod the operator builds' };
  const missing = en.find((n) => !an.includes(n));
  if (missing !== undefined) return { path: `${path}[${missing}]`, what: 'is missing' };
  if (en.join('\0') !== an.join('\0')) return { path, what: 'has entries duplicated or in another order' };
  for (let i = 0; i < exp.length; i++) {
    const d = diffValue(exp[i], act[i], `${path}[${en[i] ?? i}]`);
    if (d) return d;
  }
  return undefined;
}

function diffArray(exp: unknown[], act: unknown[], path: string): SpecDifference | undefined {
  if ([...exp, ...act].every((e) => nameOf(e) !== undefined)) return diffNamed(exp, act, path);
  if (exp.length !== act.length) return { path, what: `has ${act.length} entries, want ${exp.length}` };
  for (let i = 0; i < exp.length; i++) {
    const d = diffValue(exp[i], act[i], `${path}[${i}]`);
    if (d) return d;
  }
  return undefined;
}

function diffObject(exp: Obj, act: Obj, path: string): SpecDifference | undefined {
  const keys = [...new Set([...Object.keys(exp), ...Object.keys(act)])].sort();
  for (const key of keys) {
    if (exp[key] === undefined && key in DEFAULTS && act[key] === DEFAULTS[key]) continue;
    const d = diffValue(exp[key], act[key], `${path}.${key}`);
    if (d) return d;
  }
  return undefined;
}

function diffValue(exp: unknown, act: unknown, path: string): SpecDifference | undefined {
  if (exp === undefined || exp === null) {
    return isUnsetLike(act) ? undefined : { path, what: 'is set; the operator leaves it unset' };
  }
  if (Array.isArray(exp)) {
    return Array.isArray(act) ? diffArray(exp, act, path) : { path, what: 'is not a list as built' };
  }
  if (isObj(exp)) return isObj(act) ? diffObject(exp, act, path) : { path, what: 'differs' };
  return exp === act ? undefined : { path, what: 'differs' };
}

function containers(spec: Obj, field: string): Obj[] | undefined {
  const list = spec[field];
  return Array.isArray(list) ? list.map((c) => pick(c, CONTAINER_FIELDS)) : undefined;
}

function comparable(spec: unknown): Obj {
  const s = pick(spec, POD_FIELDS);
  return { ...s, containers: containers(s, 'containers'), initContainers: containers(s, 'initContainers') };
}

/** The first difference between the joiner's pod spec and the built one, or undefined. */
export function podSpecDifference(actualSpec: unknown, expectedSpec: unknown): SpecDifference | undefined {
  if (!isObj(actualSpec)) return { path: 'spec', what: 'is missing' };
  return diffValue(comparable(expectedSpec), comparable(actualSpec), 'spec');
}
