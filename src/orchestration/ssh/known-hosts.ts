/**
 * Host key checking against OpenSSH's known_hosts files, as `ssh` with
 * StrictHostKeyChecking=yes does it: plain and hashed (`|1|salt|hash`)
 * entries, host lists and wildcard patterns, the `[host]:port` form for ports
 * other than 22, `@revoked` keys. ssh2 only hands us the server's key; no npm
 * library reads known_hosts with hashed entries and markers, hence this file.
 * `@cert-authority` lines are skipped: ssh2 does not verify host certificates.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { matchesPatternList } from './patterns.js';

export interface KnownHostEntry {
  file: string;
  line: number;
  marker: 'revoked' | 'cert-authority' | undefined;
  /** The host field as written: comma-separated patterns, or one `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  /** The key blob (SSH wire format), base64. */
  key: string;
}

/** The files `ssh` reads by default: the user's, then the system's. */
export function defaultKnownHostsFiles(home = homedir()): string[] {
  return [
    join(home, '.ssh', 'known_hosts'),
    join(home, '.ssh', 'known_hosts2'),
    '/etc/ssh/ssh_known_hosts',
    '/etc/ssh/ssh_known_hosts2',
  ];
}

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
      marker = fields[0] === '@revoked' ? 'revoked' : 'cert-authority';
      fields.shift();
    }
    const [hosts, keyType, key] = fields;
    if (!hosts || !keyType || !key) return;
    entries.push({ file, line: i + 1, marker, hosts, keyType, key });
  });
  return entries;
}

/** Reads every file that exists; a missing one is not an error (ssh treats it as empty). */
export async function readKnownHosts(files: string[]): Promise<KnownHostEntry[]> {
  const all: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    all.push(...parseKnownHosts(text, file));
  }
  return all;
}

/** The name a host is filed under: `host` on port 22, else `[host]:port` (as ssh writes it). */
export function knownHostsName(host: string, port: number): string {
  const bare = host.toLowerCase();
  return port === 22 ? bare : `[${bare}]:${port}`;
}

function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hosts.startsWith('|1|')) {
    const [, , salt, hash] = entry.hosts.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return matchesPatternList(name, entry.hosts.split(','));
}

/** The key type named inside an SSH public key blob (its first string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** "SHA256:…" as `ssh-keygen -l` and ssh's prompts show it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** ED25519, ECDSA, RSA: the label ssh prints beside a fingerprint. */
export function keyLabel(keyType: string): string {
  if (keyType === 'ssh-ed25519') return 'ED25519';
  if (keyType.startsWith('ecdsa-')) return 'ECDSA';
  if (keyType === 'ssh-rsa') return 'RSA';
  if (keyType === 'ssh-dss') return 'DSA';
  return keyType;
}

/** The `-t` value of ssh-keyscan for a key type. */
export function keyscanType(keyType: string): string {
  if (keyType === 'ssh-ed25519') return 'ed25519';
  if (keyType.startsWith('ecdsa-')) return 'ecdsa';
  if (keyType === 'ssh-rsa') return 'rsa';
  return keyType;
}

export type HostKeyVerdict =
  | { status: 'known'; entry: KnownHostEntry }
  | { status: 'unknown'; otherTypes: string[] }
  | { status: 'changed'; entries: KnownHostEntry[] }
  | { status: 'revoked'; entry: KnownHostEntry };

/** What the known_hosts entries say of the key `blob` presented by the host filed as `name` (see knownHostsName). */
export function checkHostKey(entries: KnownHostEntry[], name: string, blob: Buffer): HostKeyVerdict {
  const type = keyTypeOf(blob);
  const presented = blob.toString('base64');
  // A revoked key is refused whatever else is said of it.
  const revoked = entries.find((e) => e.marker === 'revoked' && e.key === presented);
  if (revoked) return { status: 'revoked', entry: revoked };
  const forHost = entries.filter((e) => e.marker === undefined && entryMatches(e, name));
  const sameType = forHost.filter((e) => e.keyType === type);
  const match = sameType.find((e) => e.key === presented);
  if (match) return { status: 'known', entry: match };
  if (sameType.length) return { status: 'changed', entries: sameType };
  return { status: 'unknown', otherTypes: [...new Set(forHost.map((e) => e.keyType))] };
}

/** Key types known for a host, to ask the server for those first (as ssh does). */
export function knownKeyTypes(entries: KnownHostEntry[], name: string): string[] {
  return [...new Set(entries.filter((e) => e.marker === undefined && entryMatches(e, name)).map((e) => e.keyType))];
}
