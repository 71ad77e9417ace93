// What an error from @kubernetes/client-node says: its HTTP status code (and the 404/409/410
// predicates built on it) and a short loggable description. Shared by the operator's runtime and
// controllers and by the cell, which is why it sits in the bottom layer with the logger.
import { ApiException } from '@kubernetes/client-node';

/**
 * The HTTP status code of a client-node error, if it has one:
 * - typed API calls and KubernetesObjectApi throw ApiException with `.code` (body in `.body`);
 * - Watch hands its done-callback an Error with `.statusCode` for a non-200 answer;
 * - an in-stream watch ERROR event carries a v1.Status object with `.code`.
 * Network failures (ECONNREFUSED, resets) have no status: undefined.
 */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { statusCode?: unknown; code?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  return typeof e.code === 'number' ? e.code : undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
export const isGone = (err: unknown): boolean => statusCode(err) === 410;

/** A short, loggable description of an error, including the network cause (e.g. ECONNREFUSED). */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = statusCode(err);
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const parts = [err.message];
  if (code !== undefined) parts.push(`status ${code}`);
  if (cause?.code ?? cause?.message) parts.push(`cause ${cause.code ?? cause.message}`);
  return parts.join('; ');
}
