/**
 * The transfer round trip every backend must survive through the fault proxy:
 * `copy -J4` of 100 files (a fifth of them 1-3 MiB, so cuts land mid-body in
 * both directions), drop, `get -J4`, then `fsck --from` (all three through the
 * faulty proxy), with zero failed transfers and the remote's default retries.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { AnnexRepo } from './annex.js';
import { FAULTS, type FaultProxy, type FaultProxyOptions, type RequestInfo } from './fault-proxy.js';

/** Where the plan cuts downloads of large files: far enough in that part of it has arrived. */
const PLANNED_CUT_AT = 700_000;
/** How often the plan strikes with each kind of fault. */
const PLANNED_EACH = 5;
const MiB = 1024 * 1024;

/** The size in a key (both backends put the key in the URL path), e.g. SHA256E-s1048576--… */
const keySize = (path: string): number => Number(/-s(\d+)--/.exec(path)?.[1] ?? 0);
const largeDownload = (r: RequestInfo): boolean => r.method === 'GET' && r.headers.range === undefined && keySize(r.path) >= MiB;
const largeUpload = (r: RequestInfo): boolean => r.method === 'PUT' && Number(r.headers['content-length'] ?? 0) >= MiB;

/**
 * The proxy for a run. A plan makes sure each kind of fault strikes
 * PLANNED_EACH times, spread over the run: every 3rd large upload and download
 * is cut part way (downloads after PLANNED_CUT_AT bytes, by closing the
 * connection, so all bytes sent arrive and the resume must start after them),
 * and every 40th request stalls or is answered 429, 503 or 500. On top, a
 * seeded random schedule faults about one request in ten, no more than 3
 * times in a row for one method and target. Real networks fault far less; this
 * is dense enough to strike often in a run of under a minute.
 */
export const FAULT_RUN: Omit<FaultProxyOptions, 'target'> = {
  seed: 20240611,
  plan: [
    { fault: 'cut-response', match: largeDownload, every: 3, times: PLANNED_EACH, atByte: PLANNED_CUT_AT, rst: false },
    { fault: 'cut-request', match: largeUpload, every: 3, times: PLANNED_EACH },
    ...(['stall', '429', '503', '500'] as const).map((fault, i) => ({ fault, skip: 10 * i, every: 40, times: PLANNED_EACH })),
  ],
  rates: { 'cut-request': 0.04, 'cut-response': 0.03, stall: 0.01, '429': 0.01, '503': 0.01, '500': 0.02 },
  stallMs: 500,
  retryAfterSeconds: 1,
  maxConsecutive: 3,
};

export interface FaultScenario {
  repo: AnnexRepo;
  /** A remote whose endpoint is the proxy. */
  remote: string;
  proxy: FaultProxy;
  /** The keys the server holds, sorted, seen on its side (not through the proxy). */
  listStored(): Promise<string[]>;
  /** Backend-specific checks after the copy, e.g. no temporary uploads left. */
  afterCopy?(): Promise<void>;
}

export async function faultyRoundTrip(s: FaultScenario): Promise<void> {
  const { repo, remote, proxy } = s;
  const content = new Map<string, Buffer>();
  for (let i = 0; i < 100; i++) {
    const size = i % 5 === 0 ? MiB + ((i * 997_331) % (2 * MiB)) : 1 + ((i * 7919) % 200_000);
    content.set(`f/${String(i).padStart(3, '0')}.bin`, randomBytes(size));
  }
  for (const [name, c] of content) await repo.write(name, c);
  await repo.commitAll();
  const keys = (await repo.ok('git', 'annex', 'find', '--format=${key}\\n', '.')).stdout.split('\n').filter(Boolean).sort();
  expect(keys).toHaveLength(100);

  const started = Date.now();
  const lap = (label: string): string => `${label} ${((Date.now() - started) / 1000).toFixed(1)} s`;
  const laps: string[] = [];
  // A transfer the remote gave up on, and git-annex then tried again, shows as "failed" lines.
  const gaveUp: string[] = [];
  const run = async (...args: string[]): Promise<void> => {
    const r = await repo.ok('git', 'annex', ...args);
    gaveUp.push(...`${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /failed/.test(l)));
    laps.push(lap(args[0] as string));
  };
  await run('copy', '-J4', '--to', remote, '.');
  const recorded = (await repo.ok('git', 'annex', 'find', `--in=${remote}`, '--format=${key}\\n', '.')).stdout;
  expect(recorded.split('\n').filter(Boolean).sort()).toEqual(keys);
  expect(await s.listStored()).toEqual(keys);
  await s.afterCopy?.();

  await run('drop', '-J4', '.');
  await run('get', '-J4', '.');
  for (const [name, c] of content) {
    expect((await readFile(join(repo.path, name))).equals(c), `${name} round trip`).toBe(true);
  }
  // Downloads every key again, through the faulty proxy, and checks its hash.
  await run('fsck', '-J4', '--from', remote, '.');

  const { injected, requests } = proxy;
  const downloadCuts = requests.filter((r) => r.method === 'GET' && r.fault === 'cut-response' && r.where === 'response body');
  const resumed = requests.filter((r) => r.method === 'GET' && r.range !== undefined);
  console.log(
    `fault run through ${remote}: ${requests.length} requests, injected ${JSON.stringify(injected)}, ` +
      `${downloadCuts.length} downloads cut mid-body, ${resumed.length} ranged (resumed) GETs; done at ${laps.join(', ')}; ` +
      `attempts the remote gave up on (git-annex retried them): ${gaveUp.length ? gaveUp.join(' | ') : 'none'}`,
  );
  // The plan's faults at least, and the random schedule's on top.
  for (const f of FAULTS) expect(injected[f], `${f} faults injected`).toBeGreaterThan(PLANNED_EACH);
  // Each planned cut strikes a download, and the retry asks only for what did not arrive.
  const planned = downloadCuts.filter((r) => r.offset === PLANNED_CUT_AT);
  expect(planned).toHaveLength(PLANNED_EACH);
  for (const cut of planned) {
    const next = requests.slice(requests.indexOf(cut) + 1).find((r) => r.method === 'GET' && r.path === cut.path);
    expect(next?.range, `the retry of ${cut.path}`).toBe(`bytes=${PLANNED_CUT_AT}-`);
  }
}
