/**
 * `annexd s3-uploads`: abandoned multipart uploads of an annexd-s3 remote,
 * found and cleaned as a user would, inside the repository, with no
 * credentials in the environment (the remote's own chain finds the pair
 * remembered at initremote). The upload to clean is left realistically: a
 * multipart copy SIGKILLed with git-annex mid-upload. Two servers: the
 * embedded one, which implements ListMultipartUploads, ListParts and
 * AbortMultipartUpload over s3rver's stored parts, and plain s3rver, which
 * answers NotImplemented / 405.
 *
 * "Abandoned" means idle for longer than a day: the killed upload's files are
 * dated back two days on the server's disk, as if it had been killed then.
 * Always against the embedded server (the test reads its disk).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, type ExecResult } from '../../src/util/exec.js';
import { AnnexRepo, createSandbox, initExternalRemote, type Sandbox } from '../support/annex.js';
import { withFaultProxy } from '../support/fault-proxy.js';
import { killMidway } from '../support/kill.js';
import { initS3Remote, startEmbeddedTestS3, type TestS3 } from '../support/s3.js';
import { BIN_DIR } from '../support/tools.js';

const MiB = 1024 * 1024;
const DAY_MS = 24 * 3600 * 1000;

let sandbox: Sandbox;
let full: TestS3;
let plain: TestS3;

/** Starts the embedded server in `dir`, leaving the multipart calls in `without` to plain s3rver. */
const embeddedServer = (dir: string, without: string): Promise<TestS3> => startEmbeddedTestS3(dir, { ANNEXD_S3_WITHOUT: without });

let partial: TestS3;

beforeAll(async () => {
  sandbox = await createSandbox();
  full = await embeddedServer(join(sandbox.dir, 'full'), '');
  plain = await embeddedServer(join(sandbox.dir, 'plain'), 'all');
  partial = await embeddedServer(join(sandbox.dir, 'partial'), 'ListParts,AbortMultipartUpload');
});
afterAll(async () => {
  await full?.stop();
  await plain?.stop();
  await partial?.stop();
  await sandbox?.cleanup();
});

/** Dates an upload's files on the server's disk back by `ms`, as if it had been started (and its parts sent) then. */
async function backdate(serverDir: string, bucket: string, uploadId: string, ms: number): Promise<string> {
  const dir = join(serverDir, 's3-data', bucket, '._S3rver_uploads', uploadId);
  const then = new Date(Date.now() - ms);
  for (const f of await readdir(dir)) await utimes(join(dir, f), then, then);
  return dir;
}

function client(s3: TestS3): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
}

/** An upload started by someone else's client, with one 5 MiB part: still in progress. */
async function startUpload(s3: TestS3, bucket: string, key: string): Promise<string> {
  const c = client(s3);
  try {
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    await c.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: randomBytes(5 * MiB) }));
    return UploadId as string;
  } finally {
    c.destroy();
  }
}

async function serverUploads(s3: TestS3, bucket: string): Promise<string[]> {
  const c = client(s3);
  try {
    const r = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    return (r.Uploads ?? []).map((u) => `${u.Key} ${u.UploadId}`).sort();
  } finally {
    c.destroy();
  }
}

/** s3rver's upload directories of a bucket: upload id → object key. */
async function uploadDirs(s3Dir: string, bucket: string): Promise<Map<string, string>> {
  const root = join(s3Dir, 's3-data', bucket, '._S3rver_uploads');
  const found = new Map<string, string>();
  if (!existsSync(root)) return found;
  for (const id of await readdir(root)) found.set(id, await readFile(join(root, id, 'key'), 'utf8'));
  return found;
}

/** annexd as a user runs it in `repo`, without any AWS_* variable. */
function annexd(repo: AnnexRepo | string, ...args: string[]): Promise<ExecResult> {
  const cwd = typeof repo === 'string' ? repo : repo.path;
  // Only `credentials set` reads stdin: the secret key of the server in use.
  const input = args[0] === 'credentials' ? partial.secretAccessKey : '';
  return exec(join(BIN_DIR, 'annexd'), args, { cwd, env: { ...sandbox.env, DBUS_SESSION_BUS_ADDRESS: '' }, input });
}

interface UploadJson {
  key: string;
  uploadId: string;
  initiated: string;
  idleSeconds: number;
  parts: number;
  bytes: number;
  abandoned: boolean;
  action: string;
}

describe('annexd s3-uploads on a server with ListMultipartUploads and AbortMultipartUpload', () => {
  it('lists the upload a SIGKILL left, aborts it once idle for a day, keeps one in progress and uploads outside the prefix', async () => {
    const repo = await AnnexRepo.create(sandbox, 'full');
    // A prefix git-annex has to escape in remote.log (a space and an "&").
    const prefix = 'up loads&co/';
    const params = [`prefix=${prefix}`, 'partsize=5MiB', 'multipartthreshold=5MiB', 'concurrency=1'];
    const held = (r: { method: string; path: string }): boolean => r.method === 'PUT' && /[?&]partNumber=2(&|$)/.test(r.path);
    const bucket = full.bucket('abandoned');
    await repo.write('big.bin', randomBytes(12 * MiB));
    await repo.commitAll();
    const key = await repo.key('big.bin');
    // The remote talks to the server through a proxy that holds part 2, so the kill lands mid-upload.
    await withFaultProxy({ target: full.endpoint, plan: [{ fault: 'stall', match: held, atByte: MiB, stallMs: 120_000 }] }, async (proxy) => {
      await initS3Remote(repo, { ...full, endpoint: proxy.url }, 's3', params, bucket);
      await killMidway(repo, ['copy', '--to', 's3', 'big.bin'], 'git-annex-remote-annexd-s3', () => proxy.injected.stall === 1);
    });
    await repo.okEnv(full.credsEnv, 'git', 'annex', 'enableremote', 's3', `endpoint=${full.endpoint}`);

    const killed = [...(await uploadDirs(join(sandbox.dir, 'full'), bucket))];
    expect(killed.map(([, k]) => k)).toEqual([`${prefix}${key}`]);
    const [killedId] = killed[0] as [string, string];
    // As if the kill had happened two days ago: the upload's start and its parts.
    const dir = await backdate(join(sandbox.dir, 'full'), bucket, killedId, 2 * DAY_MS);
    const activeId = await startUpload(full, bucket, `${prefix}in-progress.bin`);
    const outsideId = await startUpload(full, bucket, 'other-app/upload.bin');

    // Listing changes nothing.
    const listed = await annexd(repo, 's3-uploads', 's3', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    const report = JSON.parse(listed.stdout) as { prefix: string; bucket: string; olderThanSeconds: number; abort: boolean; uploads: UploadJson[] };
    expect(report).toMatchObject({ prefix, bucket, olderThanSeconds: 86_400, abort: false });
    expect(report.uploads).toEqual([
      expect.objectContaining({ key: `${prefix}${key}`, uploadId: killedId, parts: 1, bytes: 5 * MiB, abandoned: true, action: 'none' }),
      expect.objectContaining({ key: `${prefix}in-progress.bin`, uploadId: activeId, parts: 1, abandoned: false, action: 'none' }),
    ]);
    expect((report.uploads[0] as UploadJson).idleSeconds).toBeGreaterThanOrEqual(2 * 86_400 - 60);

    const text = await annexd(repo, 's3-uploads', 's3');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`2 unfinished multipart uploads in bucket "${bucket}" at ${full.endpoint} under prefix "${prefix}"`);
    expect(text.stdout).toMatch(new RegExp(`2d\\s+1 \\(5 MiB\\)\\s+abandoned\\s+${prefix}${key}`));
    expect(text.stdout).toMatch(/active\s+up loads&co\/in-progress\.bin/);
    expect(text.stdout).toContain('1 idle for more than 1d (5 MiB): remove it with annexd s3-uploads s3 --abort');
    expect([...(await uploadDirs(join(sandbox.dir, 'full'), bucket)).keys()].sort()).toEqual([killedId, activeId, outsideId].sort());

    // --abort removes the abandoned one, parts and all; the active one and the other app's stay.
    const aborted = await annexd(repo, 's3-uploads', 's3', '--abort');
    expect(aborted.code, aborted.stderr).toBe(0);
    expect(aborted.stdout).toMatch(new RegExp(`aborted\\s+${prefix}${key}`));
    expect(aborted.stdout).toContain('aborted 1 abandoned upload (5 MiB); kept 1 active in the last 1d');
    expect(existsSync(dir)).toBe(false);
    expect([...(await uploadDirs(join(sandbox.dir, 'full'), bucket)).keys()].sort()).toEqual([activeId, outsideId].sort());
    expect(await serverUploads(full, bucket)).toEqual([`${prefix}in-progress.bin ${activeId}`, `other-app/upload.bin ${outsideId}`].sort());

    // A shorter age is the user's call: the upload now idle for seconds goes too.
    const again = await annexd(repo, 's3-uploads', 's3', '--abort', '--older-than', '0s', '--json');
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { uploads: UploadJson[] }).uploads).toEqual([
      expect.objectContaining({ uploadId: activeId, abandoned: true, action: 'aborted' }),
    ]);
    expect(await serverUploads(full, bucket)).toEqual([`other-app/upload.bin ${outsideId}`]);
    expect((await annexd(repo, 's3-uploads', 's3')).stdout).toBe(`no unfinished multipart uploads in bucket "${bucket}" at ${full.endpoint} under prefix "${prefix}"\n`);

    // The copy that was killed goes through now.
    await repo.ok('git', 'annex', 'copy', '--to', 's3', 'big.bin');
    for (const r of [listed, text, aborted, again]) expect(r.stdout + r.stderr).not.toContain(full.secretAccessKey);
  });
});

describe('annexd s3-uploads on plain s3rver (no ListMultipartUploads, no AbortMultipartUpload)', () => {
  it('says so once, in one line naming the call, the answer and what to do, and fails', async () => {
    const repo = await AnnexRepo.create(sandbox, 'plain');
    const bucket = await initS3Remote(repo, plain, 'bare', ['prefix=annex/']);
    await startUpload(plain, bucket, 'annex/left-behind.bin');
    for (const args of [[], ['--abort']]) {
      const r = await annexd(repo, 's3-uploads', 'bare', ...args);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toEqual([
        `annexd: the S3 server at ${plain.endpoint} does not implement ListMultipartUploads (NotImplemented, HTTP 501): annexd cannot find abandoned uploads there; remove leftover parts with the server's own tools, or use a server that has the call (AWS, MinIO, Ceph)`,
      ]);
    }
    const json = await annexd(repo, 's3-uploads', 'bare', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ error: expect.stringMatching(/does not implement ListMultipartUploads \(NotImplemented, HTTP 501\)/), exitCode: 1 });
    expect(json.stderr.trimEnd().split('\n')).toHaveLength(1);
    // Nothing was touched.
    expect((await uploadDirs(join(sandbox.dir, 'plain'), bucket)).size).toBe(1);
  });
});

describe('annexd s3-uploads on a server that lists uploads but has no ListParts and no AbortMultipartUpload', () => {
  it('counts idle time from the start, says each missing call once, and fails when asked to abort', async () => {
    const repo = await AnnexRepo.create(sandbox, 'partial');
    // This remote's key pair is an annexd credential named at initremote, kept per repository (not in remote.log).
    const stored = await annexd(repo.path, 'credentials', 'set', 'half-cred', `key_id=${partial.accessKeyId}`, '--store', 'file');
    expect(stored.code, stored.stderr).toBe(0);
    const bucket = partial.bucket('half');
    await initExternalRemote(repo, 'annexd-s3', 'half', [`bucket=${bucket}`, `endpoint=${partial.endpoint}`, 'prefix=annex/', 'credential=half-cred']);
    expect((await repo.ok('git', 'cat-file', 'blob', 'git-annex:remote.log')).stdout).not.toContain('half-cred');
    const ids = [await startUpload(partial, bucket, 'annex/one.bin'), await startUpload(partial, bucket, 'annex/two.bin')];
    for (const id of ids) await backdate(join(sandbox.dir, 'partial'), bucket, id, 3 * DAY_MS);
    const partsNote = "annexd: the S3 server does not implement ListParts (MethodNotAllowed): idle times count from each upload's start";

    const listed = await annexd(repo, 's3-uploads', 'half');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr.trimEnd().split('\n')).toEqual([partsNote]);
    expect(listed.stdout).toMatch(/3d\s+\?\s+abandoned\s+annex\/one\.bin/);
    expect(listed.stdout).toContain('2 idle for more than 1d (size unknown): remove them with annexd s3-uploads half --abort');

    const aborted = await annexd(repo, 's3-uploads', 'half', '--abort');
    expect(aborted.code).toBe(1);
    expect(aborted.stdout).toBe('');
    expect(aborted.stderr.trimEnd().split('\n')).toEqual([
      partsNote,
      `annexd: the S3 server at ${partial.endpoint} does not implement AbortMultipartUpload (MethodNotAllowed, HTTP 405): the uploads stay on the server; remove their parts with the server's own tools, or use a server that has the call (AWS, MinIO, Ceph)`,
    ]);
    expect([...(await uploadDirs(join(sandbox.dir, 'partial'), bucket)).keys()].sort()).toEqual([...ids].sort());
  });
});

describe('annexd s3-uploads, wrong use', () => {
  it('gives one line naming the cause and the fix, exit 2 for usage, 1 otherwise', async () => {
    const repo = await AnnexRepo.create(sandbox, 'misuse');
    await repo.ok('git', 'annex', 'initremote', 'dir', 'type=directory', `directory=${sandbox.dir}`, 'encryption=none');
    const outside = join(sandbox.dir, 'home');
    const cases: Array<[AnnexRepo | string, string[], number, RegExp]> = [
      [repo, [], 2, /s3-uploads needs the name of an annexd-s3 remote, .*\(see annexd s3-uploads --help\)$/],
      [repo, ['a', 'b'], 2, /s3-uploads takes one REMOTE \(see annexd s3-uploads --help\)$/],
      [repo, ['s3', '--older-than', '3 days'], 2, /--older-than takes a number and a unit .* not "3 days" \(see annexd s3-uploads --help\)$/],
      [repo, ['nosuch'], 1, /no remote named "nosuch" in this repository: git annex info lists its remotes/],
      [repo, ['dir'], 1, /remote "dir" is not an annexd-s3 remote \(type=directory\)/],
      [outside, ['s3'], 1, /not in a git repository .*: run annexd inside the git-annex repository that has the remote/],
    ];
    for (const [where, args, code, message] of cases) {
      const r = await annexd(where, 's3-uploads', ...args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
    }
    const help = await annexd(repo, 's3-uploads', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: annexd s3-uploads REMOTE \[--abort\] \[--older-than AGE\] \[--json\]/);
  });
});
