// The demo (`npm run demo`): filled in by the lead.
export function runDemo(): Promise<void> {
  return Promise.reject(new Error('demo: not yet implemented'));
}
