/**
 * Ctrl-C during `annexd demo`, as a terminal sends it: SIGINT to the whole
 * process group (the demo with its embedded server, git-annex, the remote)
 * while the big file is uploading in parts. The demo must keep its server up
 * until the remote has aborted the upload, then remove its scratch directory:
 * nothing is left behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../support/annex.js';
import { until } from '../support/kill.js';
import { BIN_DIR } from '../support/tools.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await createSandbox();
});
afterAll(async () => sandbox?.cleanup());

/** Upload directories (one per unfinished multipart upload) of the demo's bucket under `tmp`, with their files. */
function uploads(tmp: string): string[][] {
  const found: string[][] = [];
  for (const scratch of existsSync(tmp) ? readdirSync(tmp) : []) {
    const root = join(tmp, scratch, 's3-data', 'demo', '._S3rver_uploads');
    if (!existsSync(root)) continue;
    for (const id of readdirSync(root)) found.push(readdirSync(join(root, id)));
  }
  return found;
}

/** Runs the demo in its own process group; Ctrl-C once a part of the big file is on the server. */
async function interruptedDemo(tmp: string, args: string[]): Promise<{ code: number | null; output: string; partsAtSignal: number }> {
  await mkdir(tmp, { recursive: true });
  const child = spawn(join(BIN_DIR, 'annexd'), ['demo', '--big-mib', '224', '--small-files', '2', ...args], {
    env: { ...sandbox.env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  await until('a part of the big file on the server', () => done || uploads(tmp).some((files) => files.some((f) => /^\d+$/.test(f))), 120_000);
  if (done) throw new Error(`the demo ended before its multipart upload started:\n${output}`);
  // A part is stored once s3rver has written its N.md5 (the part file itself appears when its request begins).
  const partsAtSignal = Math.max(0, ...uploads(tmp).map((files) => files.filter((f) => /^\d+\.md5$/.test(f)).length));
  process.kill(-(child.pid as number), 'SIGINT');
  // 224 MiB is 7 parts of 32 MiB, all sent at once: at the first part's arrival none is stored yet,
  // so this interrupts an upload in flight, not its completion (a loaded machine is slow to notice the part).
  return { code: await exited, output, partsAtSignal };
}

describe('annexd demo, interrupted with Ctrl-C mid-upload', () => {
  it('lets the remote abort its multipart upload on the live server, then removes the scratch directory', async () => {
    // --keep shows what the server holds after the interruption: no parts.
    const kept = join(sandbox.dir, 'tmp-keep');
    const first = await interruptedDemo(kept, ['--keep']);
    expect(first.partsAtSignal, 'the interruption came after every part was stored').toBeLessThan(7);
    expect(first.code, first.output).toBe(130);
    expect(first.output).toContain('interrupted: letting git-annex stop');
    expect(readdirSync(kept)).toHaveLength(1);
    expect(uploads(kept)).toEqual([]);

    const plain = join(sandbox.dir, 'tmp-plain');
    const second = await interruptedDemo(plain, []);
    expect(second.code, second.output).toBe(130);
    expect(readdirSync(plain)).toEqual([]);
  });
});
