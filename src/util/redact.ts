/**
 * One registry of secrets for the whole process. Every path that emits free
 * text (DEBUG, INFO, failure replies, stderr logs) passes it through `redact`,
 * so a secret that slips into an SDK error message is still never shown.
 */

const secrets = new Set<string>();

/** Secrets shorter than this are not redacted: masking "a" would mangle every message. */
const MIN_SECRET_LENGTH = 4;

export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= MIN_SECRET_LENGTH) secrets.add(secret);
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join('***');
  }
  return out;
}
