/**
 * `annexd demo` end to end, small: the S3 part, then publishing to the
 * embedded OSF server. What the OSF server holds afterwards is read from its
 * own state (kept with --keep), not from the demo's words: one file per key,
 * named by the key, at the project's storage root. Without --keep nothing is
 * left behind. No account, no network: the sandbox has no OSF_TOKEN or AWS
 * keys, and both servers are on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { createSandbox, type Sandbox } from '../support/annex.js';
import { BIN_DIR } from '../support/tools.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await createSandbox();
});
afterAll(async () => sandbox?.cleanup());

const SMALL = 3;

async function demo(tmp: string, args: string[]): Promise<{ code: number | null; output: string }> {
  await mkdir(tmp, { recursive: true });
  const child = spawn(join(BIN_DIR, 'annexd'), ['demo', '--big-mib', '2', '--small-files', String(SMALL), ...args], {
    env: { ...sandbox.env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, output };
}

interface OsfState {
  nodes: Record<string, { title: string; deleted: boolean }>;
  entities: Record<string, { node: string; kind: string; name: string; parent: string; size: number }>;
}

describe('annexd demo', () => {
  it('stores in S3, then publishes the dataset to the embedded OSF server, clones it from there and gets the content back', async () => {
    expect(sandbox.env.OSF_TOKEN).toBeUndefined();
    const kept = join(sandbox.dir, 'tmp-keep');
    const { code, output } = await demo(kept, ['--keep']);
    expect(code, output).toBe(0);
    for (const step of [
      '$ annexd create-sibling-osf --api ',
      '$ annexd push --to osf -J4',
      '$ git annex get -J4 data',
      '$ git annex fsck --fast --from osf-storage --quiet data',
    ]) {
      expect(output, output).toContain(step);
    }
    // Content first, on the storage sibling the git sibling depends on; then the history.
    const firstCopy = output.search(/^copy\(ok\): data\/\S+ \(file\) \[to osf-storage\.\.\.\]$/m);
    const publish = output.search(/^publish\(ok\): \. \(dataset\) \[refs\/heads\/\w+->osf:refs\/heads\/\w+ \[new branch\]\]$/m);
    expect(firstCopy, output).toBeGreaterThan(0);
    expect(publish).toBeGreaterThan(firstCopy);
    expect(output).toMatch(/^\$ git clone osf:\/\/[a-z0-9]{5}\?api=\S+ \S+colleague$/m);
    // Then the sync daemon publishes a new commit by itself, and the clone pulls it and gets its file.
    expect(output).toContain('$ annexd sync add . --to osf --on-change');
    expect(output).toMatch(/annexd serve: sync \S+dataset -> osf: ok/);
    expect(output).toMatch(/^ +\d+\.\d\d s {2}The daemon publishes the new commit/m);
    expect(output).toContain('$ git pull -q --ff-only');
    expect(output).toMatch(/the OSF server answered \d+ requests, at most \d+ in any one second, 0 refused as too many/);
    expect(output).toMatch(/^ +\d+\.\d\d s {2}Publish: content to osf-storage first/m);
    expect(output).toContain(`${SMALL + 1} files stored in S3, dropped, retrieved and verified; the dataset published to OSF, cloned from it and its content retrieved and verified; a new commit published by the sync daemon and pulled into the clone.`);

    const [scratch] = readdirSync(kept);
    const work = join(kept, scratch!);
    const dataset = join(work, 'dataset');
    // The tokens went only to environments: neither in the output nor in the arguments shown.
    const creds = join(dataset, '.git', 'annex', 'annexd', 'creds');
    const remembered = readdirSync(creds).map((f) => readFileSync(join(creds, f), 'utf8'));
    expect(remembered.length).toBeGreaterThan(0);
    for (const r of remembered) for (const secret of r.split('\n').filter((l) => l.length >= 20)) expect(output).not.toContain(secret);

    // What the OSF server holds: every key of the dataset, flat at the demo project's root, with its size.
    const keys = await exec('git', ['annex', 'find', '--format=${key} ${bytesize}\\n', 'data'], { cwd: dataset, env: sandbox.env, stdio: 'pipe' });
    expect(keys.code, keys.stderr).toBe(0);
    const want = keys.stdout.split('\n').filter(Boolean).sort();
    expect(want).toHaveLength(SMALL + 2);
    const state = JSON.parse(readFileSync(join(work, 'osf-data', 'state.json'), 'utf8')) as OsfState;
    const projects = Object.entries(state.nodes).filter(([, n]) => !n.deleted);
    expect(projects.map(([, n]) => n.title)).toEqual(['annexd demo dataset']);
    const stored = Object.values(state.entities)
      .filter((e) => e.node === projects[0]![0] && e.kind === 'file' && e.parent === '')
      .map((e) => `${e.name} ${e.size}`)
      .sort();
    // Beside the content: the git history as datalad-osf deposits it.
    expect(stored.filter((e) => !e.startsWith('XDLRA--'))).toEqual(want);
    expect(stored.filter((e) => e.startsWith('XDLRA--')).map((e) => e.split(' ')[0])).toEqual(['XDLRA--refs', 'XDLRA--repo-export']);
    expect(readFileSync(join(work, 'colleague', 'data', 'notes.txt'), 'utf8')).toMatch(/^recorded at /);
    // The clone has every file, got from OSF (its fsck --from osf-storage passed: exit 0 above).
    const there = await exec('git', ['annex', 'find', '--in', 'here', 'data'], { cwd: join(work, 'colleague'), env: sandbox.env, stdio: 'pipe' });
    expect(there.stdout.split('\n').filter(Boolean)).toHaveLength(SMALL + 2);

    const plain = join(sandbox.dir, 'tmp-plain');
    const second = await demo(plain, []);
    expect(second.code, second.output).toBe(0);
    expect(second.output).toContain('published to OSF');
    expect(readdirSync(plain)).toEqual([]);
    expect(existsSync(join(work, 'osf-data'))).toBe(true);
  });
});
