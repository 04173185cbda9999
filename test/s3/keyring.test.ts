/**
 * The whole path through a real Secret Service: gnome-keyring in a private
 * D-Bus session. The S3 secret goes into the keyring with `annexd credentials
 * set --store keyring`; git-annex then copies, drops and gets with
 * credential=NAME and no AWS_* variables. The sentinel secret must appear in
 * no output and in no file in plain text (gnome-keyring encrypts its store).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exec } from '../../src/util/exec.js';
import { runInKeyringSession } from '../support/keyring.js';
import { filesContaining } from '../support/files.js';
import { useS3Suite } from '../support/s3.js';

const SENTINEL = `sentinel-${randomBytes(12).toString('hex')}`;
const suite = useS3Suite(SENTINEL);


describe('S3 with a credential in the system keyring', () => {
  it('copies, drops and gets with the secret from gnome-keyring, and leaks it nowhere', async () => {
    const { sandbox, s3 } = suite;
    const repo = join(sandbox.dir, 'keyring-repo');
    const bucket = s3.bucket('keyring');
    const script = [
      'set -e',
      `printf %s "$S3_SECRET" | annexd credentials set kr key_id=${s3.accessKeyId} --store keyring`,
      'unset S3_SECRET',
      'annexd credentials list',
      `git init -q "${repo}" && cd "${repo}"`,
      'git annex init -q kr-test',
      'git config annex.security.allowed-ip-addresses 127.0.0.1',
      `git annex --debug initremote kr type=external externaltype=annexd-s3 encryption=none bucket=${bucket} endpoint=${s3.endpoint} credential=kr 2>&1`,
      'head -c 200000 /dev/urandom > data.bin && git annex add -q data.bin && git commit -qm data',
      'git annex --debug copy --to kr data.bin 2>&1',
      'git annex --debug drop data.bin 2>&1',
      'git annex --debug get data.bin 2>&1',
      'git annex fsck --from kr data.bin 2>&1',
    ].join('\n');
    const r = await runInKeyringSession(script, { ...sandbox.env, S3_SECRET: SENTINEL });
    const out = r.stdout + r.stderr;
    expect(r.code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/stored credential "kr" in system keyring/);
    expect(out).toMatch(/kr\s+keyring\s+key_id=/);
    // The script stops at the first failing step (set -e); these show the transfers really ran.
    expect(out).toMatch(/\(from kr\.\.\.\)/);
    expect(out).toMatch(/fsck data\.bin[\s\S]*\(checksum\.\.\.\) ok/);
    expect(out).not.toContain(SENTINEL);
    expect(await filesContaining(sandbox.dir, SENTINEL)).toEqual([]);

    // Outside the keyring's session the remote cannot read the secret: it says so, and prompts for nothing.
    const outside = await exec('git', ['annex', 'fsck', '--fast', '--from', 'kr', 'data.bin'], { cwd: repo, env: sandbox.env });
    expect(outside.code).not.toBe(0);
    expect(outside.stdout + outside.stderr).toMatch(/no Secret Service keyring reachable \(no D-Bus session bus\)/);
    expect(outside.stdout + outside.stderr).not.toMatch(/CredentialError/);
  });
});
