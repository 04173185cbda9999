/**
 * CHECKPRESENT while the same process is still uploading the key: "absent"
 * until the upload's answer is in, "present" after. The real remote program,
 * driven over its stdin/stdout as git-annex drives it (ASYNC jobs), against a
 * server that takes 1.5 s to answer each request, so the upload is surely in
 * flight when the check arrives.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { useOsfSuite } from '../support/osf.js';
import { BIN_DIR } from '../support/tools.js';

describe('annexd-osf CHECKPRESENT during its own upload', () => {
  const suite = useOsfSuite({ ANNEXD_OSF_LATENCY_MS: '1500' });

  it('answers absent while the upload is under way, present once it is done', async () => {
    const node = await suite.osf.createNode();
    const dir = join(suite.sandbox.dir, 'inflight');
    await mkdir(join(dir, '.git'), { recursive: true });
    const file = join(dir, 'content');
    const content = randomBytes(1024 * 1024);
    await writeFile(file, content);
    const key = `SHA256E-s${content.length}--${'a'.repeat(64)}`;
    const config: Record<string, string> = { node, api: suite.osf.api, requestrate: '50' };

    const remote = spawn(join(BIN_DIR, 'git-annex-remote-annexd-osf'), [], {
      env: { ...process.env, OSF_TOKEN: suite.osf.token },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const replies: string[] = [];
    const waiting: Array<() => void> = [];
    createInterface({ input: remote.stdout }).on('line', (line) => {
      // Answer the remote's queries as git-annex does; keep the replies.
      const q = /^J (\d+) (GETCONFIG|GETGITDIR|GETUUID)(?: (\S+))?$/.exec(line);
      if (q) {
        const value = q[2] === 'GETCONFIG' ? config[q[3]!] ?? '' : q[2] === 'GETGITDIR' ? join(dir, '.git') : '6c3a4f1e-0000-4000-8000-000000000001';
        remote.stdin.write(`J ${q[1]} VALUE ${value}\n`);
        return;
      }
      if (/^(J \d+ )?(DEBUG|INFO|PROGRESS)\b/.test(line)) return;
      replies.push(line);
      for (const wake of waiting.splice(0)) wake();
    });
    const reply = async (pattern: RegExp): Promise<string> => {
      for (;;) {
        const i = replies.findIndex((r) => pattern.test(r));
        if (i >= 0) return replies.splice(i, 1)[0]!;
        await new Promise<void>((r) => waiting.push(r));
      }
    };
    const order: string[] = [];
    try {
      expect(await reply(/^VERSION/)).toBe('VERSION 2');
      remote.stdin.write('EXTENSIONS INFO ASYNC\n');
      await reply(/^EXTENSIONS/);
      remote.stdin.write('J 1 PREPARE\n');
      expect(await reply(/^J 1 PREPARE/)).toBe('J 1 PREPARE-SUCCESS');
      remote.stdin.write(`J 1 TRANSFER STORE ${key} ${file}\n`);
      remote.stdin.write(`J 2 CHECKPRESENT ${key}\n`);
      const stored = reply(/^J 1 TRANSFER/).then((r) => (order.push('stored'), r));
      const checked = reply(/^J 2 CHECKPRESENT/).then((r) => (order.push('checked'), r));
      expect(await checked).toBe(`J 2 CHECKPRESENT-FAILURE ${key}`);
      expect(await stored).toBe(`J 1 TRANSFER-SUCCESS STORE ${key}`);
      expect(order).toEqual(['checked', 'stored']);
      remote.stdin.write(`J 3 CHECKPRESENT ${key}\n`);
      expect(await reply(/^J 3 CHECKPRESENT/)).toBe(`J 3 CHECKPRESENT-SUCCESS ${key}`);
      expect(await suite.osf.rootNames(node)).toEqual([key]);
    } finally {
      remote.stdin.end();
      await new Promise((r) => remote.once('close', r));
    }
  });
});
