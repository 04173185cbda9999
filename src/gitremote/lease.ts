/**
 * One push at a time per deposit, through nothing but the storage's own
 * read and write (no special remote offers compare-and-swap): Fischer's
 * mutual exclusion over a lease key. A pusher reads the lease; when none is
 * live it writes its own (random id) and must have finished that write within
 * the window of starting the read, else it starts over; it then waits longer
 * than the window and reads the lease back: only if it is still its own does it
 * proceed. Any other pusher that read "free" before ours landed has written
 * by then, and whoever wrote last holds it. A live lease of someone else is
 * waited for; one past its expiry (a pusher that died) is taken over.
 * The guarantee needs storage that shows a finished write to the next read
 * (S3, WebDAV, OSF and directories do).
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GitRemoteError } from './errors.js';
import { LEASE_KEY, type Storage } from './storage.js';

/**
 * The longest a pusher may take from reading the lease to having written its
 * own, by default; git config annexd.gitremote.leaseWindow (seconds) sets it,
 * and every writer of a deposit must use the same or a larger one.
 */
export const DEFAULT_WINDOW_MS = 6_000;
/** The wait before reading the lease back is the window and this much more. */
const SETTLE_MARGIN_MS = 1_000;
/** Rounds whose write took longer than the window before giving up. */
const SLOW_ROUNDS = 3;
/** A lease is live this long: a push that dies leaves a lease that blocks others this long at most. */
export const TTL_MS = 10 * 60_000;
/** How long a push waits for another's lease before giving up. */
const WAIT_MS = TTL_MS;

interface LeaseRecord {
  id: string;
  holder: string;
  expires: number;
}

function parse(b: Buffer | undefined): LeaseRecord | undefined {
  if (!b) return undefined;
  try {
    const r = JSON.parse(b.toString('utf8')) as Partial<LeaseRecord>;
    if (typeof r.id === 'string' && typeof r.expires === 'number') return { id: r.id, holder: String(r.holder ?? '?'), expires: r.expires };
  } catch {
    // A torn or foreign lease file is no lease.
  }
  return undefined;
}

export interface Lease {
  release(): Promise<void>;
}

export async function acquireLease(storage: Storage, workdir: string, say: (m: string) => void, windowMs = DEFAULT_WINDOW_MS): Promise<Lease> {
  const id = randomBytes(12).toString('hex');
  const file = join(workdir, 'lease');
  const began = Date.now();
  let told = false;
  let slow = 0;
  for (let attempt = 0; ; attempt++) {
    const start = Date.now();
    const cur = parse(await storage.read(LEASE_KEY));
    if (cur && cur.id !== id && cur.expires > Date.now()) {
      if (Date.now() - began > WAIT_MS) throw new GitRemoteError(`another push (${cur.holder}) has held the deposit for over ${WAIT_MS / 60_000} minutes; try again later`);
      if (!told) say(`waiting for another push to finish (${cur.holder})`);
      told = true;
      await sleep(1000 + Math.random() * 1000);
      continue;
    }
    await writeFile(file, JSON.stringify({ id, holder: `${hostname()} pid ${process.pid}`, expires: Date.now() + TTL_MS }) + '\n');
    await storage.write(LEASE_KEY, file);
    const took = Date.now() - start;
    if (took > windowMs) {
      // Too slow to be sure no one else read "free" meanwhile: go round again (our lease is ours to overwrite).
      if (++slow >= SLOW_ROUNDS) {
        await storage.remove(LEASE_KEY).catch(() => undefined);
        throw new GitRemoteError(
          `the storage took ${(took / 1000).toFixed(1)} s to take the push lease, over the ${windowMs / 1000} s window: raise it with git config annexd.gitremote.leaseWindow SECONDS (every writer of this deposit the same)`,
        );
      }
      continue;
    }
    await sleep(windowMs + SETTLE_MARGIN_MS);
    const back = parse(await storage.read(LEASE_KEY));
    if (back?.id === id) {
      return {
        release: async () => {
          await storage.remove(LEASE_KEY).catch(() => undefined);
        },
      };
    }
    await sleep(500 + Math.random() * 1500 * (attempt + 1));
  }
}
