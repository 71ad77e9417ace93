// Kubernetes resource quantities ("500m", "16", "64Gi", "1e3") as plain numbers: CPU in cores,
// memory in bytes, pods as a count. Enough to compare requests with a node's allocatable.

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

const FORM = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/** The quantity's value, or undefined when `text` is not a Kubernetes quantity. */
export function parseQuantity(text: string | number | undefined): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined;
  const m = FORM.exec((text ?? '').trim());
  if (!m) return undefined;
  const [, num = '', exponent, suffix = ''] = m;
  const base = Number(num);
  if (exponent) return base * 10 ** Number(exponent.slice(1));
  return base * (BINARY[suffix] ?? DECIMAL[suffix] ?? NaN);
}
