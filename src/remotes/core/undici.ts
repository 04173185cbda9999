/**
 * undici, loaded on first use rather than at start-up, so a remote answers
 * git-annex's VERSION handshake without paying for the HTTP stack.
 */
type Undici = typeof import('undici');

let undiciPromise: Promise<Undici> | undefined;

export function loadUndici(): Promise<Undici> {
  undiciPromise ??= import('undici');
  return undiciPromise;
}
