/**
 * annexd-http through the fault proxy, in front of lighttpd: drop (which
 * checks presence), get and fsck of 100 files survive cut downloads, stalls and 429/503/500 answers
 * with the default retries, and every download that was cut resumes.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexRepo } from '../support/annex.js';
import { startFaultProxy, through, type Fault, type FaultProxy } from '../support/fault-proxy.js';
import { FAULT_RUN } from '../support/fault-scenario.js';
import { initHttpRemote } from '../support/http-remote.js';
import { useWebSources } from '../support/http-sources.js';

const suite = useWebSources();
let proxy: FaultProxy;

beforeAll(async () => {
  proxy = await startFaultProxy({ target: suite.sources.web, ...FAULT_RUN });
});
afterAll(async () => {
  await proxy?.stop();
});

const MiB = 1024 * 1024;
/** A read-only remote sends no request bodies, so uploads cannot be cut. */
const READ_FAULTS: Fault[] = ['cut-response', 'stall', '429', '503', '500'];

describe('annexd-http under faults', () => {
  it('drops, gets and fscks 100 URLs through cuts, stalls and 429/503/500 answers', async () => {
    const { sources } = suite;
    const content = new Map<string, Buffer>();
    for (let i = 0; i < 100; i++) {
      const size = i % 5 === 0 ? MiB + ((i * 997_331) % (2 * MiB)) : 1 + ((i * 7919) % 200_000);
      const name = `f${String(i).padStart(3, '0')}.bin`;
      content.set(name, randomBytes(size));
      await sources.put(`files/faults/${name}`, content.get(name)!);
    }
    const repo = await AnnexRepo.create(suite.sandbox, 'http-faults');
    await initHttpRemote(repo, 'src');
    for (const [name, c] of content) await repo.write(name, c);
    await repo.commitAll();
    // Record each file's URL through the proxy (what addurl records; addurl itself is tested elsewhere).
    const pairs = (await repo.ok('git', 'annex', 'find', '--format=${key} ${file}\\n', '.')).stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' '))
      .map(([key, file]) => `${key} ${through(proxy, `${sources.web}/files/faults/${file}`)}`);
    expect(pairs).toHaveLength(100);
    await repo.write('.urls', pairs.join('\n') + '\n');
    const uuid = (await repo.ok('git', 'config', 'remote.src.annex-uuid')).stdout.trim();
    await repo.write('.present', pairs.map((p) => `${p.split(' ')[0]} ${uuid} 1`).join('\n') + '\n');
    await repo.ok('sh', '-c', 'git annex registerurl --batch < .urls && git annex setpresentkey --batch < .present && rm .urls .present');
    // drop asks the remote (through the faults) whether each file is there before dropping it.
    const t0 = Date.now();
    await repo.ok('git', 'annex', 'drop', '-J4', '.');
    const dropped = Date.now();
    await repo.ok('git', 'annex', 'get', '-J4', '.');
    const got = Date.now();
    for (const [name, c] of content) expect((await readFile(join(repo.path, name))).equals(c), name).toBe(true);
    await repo.ok('git', 'annex', 'fsck', '-J4', '--from', 'src', '.');
    const secs = (t: number): string => ((t - t0) / 1000).toFixed(1);

    const { injected, requests } = proxy;
    const resumed = requests.filter((r) => r.method === 'GET' && r.range !== undefined && r.range !== 'bytes=0-0');
    console.log(`annexd-http fault run: ${requests.length} requests, injected ${JSON.stringify(injected)}, ${resumed.length} resumed GETs; done at drop ${secs(dropped)} s, get ${secs(got)} s, fsck ${secs(Date.now())} s`);
    for (const f of READ_FAULTS) expect(injected[f], `${f} faults injected`).toBeGreaterThanOrEqual(5);
    expect(resumed.length).toBeGreaterThan(0);
  });
});
