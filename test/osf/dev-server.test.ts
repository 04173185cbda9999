/** `annexd dev-server osf|s3` as a user runs it: the first line, a working server, a clean stop. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { BIN_DIR, requireBuild } from '../support/tools.js';

// The SDK's Node 20 notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Starts the command; resolves with its first two lines and a way to stop it with a signal. */
async function start(args: string[]): Promise<{ lines: string[]; stop(sig: NodeJS.Signals): Promise<number | null> }> {
  requireBuild();
  const child = spawn(join(BIN_DIR, 'annexd'), ['dev-server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (l) => {
      lines.push(l);
      if (lines.length === 2) resolve();
    });
    child.once('exit', (code) => reject(new Error(`dev-server exited early (code ${code}): ${stderr}`)));
  });
  return {
    lines,
    stop: (sig) =>
      new Promise((resolve) => {
        child.once('exit', (code) => resolve(code));
        child.kill(sig);
      }),
  };
}

describe('annexd dev-server', () => {
  it('osf: prints api=URL token=TOKEN first, serves the API with that token, and stops on SIGINT removing its data', async () => {
    const s = await start(['osf', '--latency-ms', '1']);
    const m = /^api=(http:\/\/127\.0\.0\.1:\d+\/v2\/) token=([A-Za-z0-9]{20,})$/.exec(s.lines[0] ?? '');
    expect(m, s.lines[0]).not.toBeNull();
    const [, api, token] = m!;
    const node = /^node=([a-z0-9]{5}) \(data in (\S+), removed at exit/.exec(s.lines[1] ?? '');
    expect(node, s.lines[1]).not.toBeNull();
    const me = await fetch(`${api}users/me/`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    const n = await fetch(`${api}nodes/${node![1]}/`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await n.json()) as { data: { attributes: { title: string } } }).data.attributes.title).toBe('annexd dev project');
    expect((await fetch(`${api}users/me/`)).status).toBe(401);
    expect(existsSync(node![2]!)).toBe(true);
    expect(await s.stop('SIGINT')).toBe(130);
    expect(existsSync(node![2]!)).toBe(false);
  });

  it('s3: prints endpoint=URL key_id=ID secret=SECRET first, and stops on SIGTERM', async () => {
    const s = await start(['s3']);
    const m = /^endpoint=(http:\/\/127\.0\.0\.1:\d+) key_id=(\S+) secret=(\S+)$/.exec(s.lines[0] ?? '');
    expect(m, s.lines[0]).not.toBeNull();
    const [, endpoint, accessKeyId, secretAccessKey] = m!;
    const client = (secret: string): S3Client =>
      new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: accessKeyId!, secretAccessKey: secret } });
    const good = client(secretAccessKey!);
    await good.send(new CreateBucketCommand({ Bucket: 'dev-bucket' }));
    expect((await good.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toContain('dev-bucket');
    await expect(client(`${secretAccessKey}x`).send(new ListBucketsCommand({}))).rejects.toThrow(/signature/i);
    good.destroy();
    expect(await s.stop('SIGTERM')).toBe(0);
  });

  it('refuses unknown servers and options with exit 2 naming its --help', async () => {
    for (const args of [['dev-server'], ['dev-server', 'ftp'], ['dev-server', 's3', '--latency-ms', '5'], ['dev-server', 'osf', '--port', 'x']]) {
      const r = await exec(join(BIN_DIR, 'annexd'), args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/annexd dev-server --help/);
    }
    const help = await exec(join(BIN_DIR, 'annexd'), ['dev-server', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/api=URL token=TOKEN/);
  });
});
