/** A daemon or sync-command failure the user can act on: one line, no stack. */
export class DaemonError extends Error {
  override readonly name = 'DaemonError';
}
