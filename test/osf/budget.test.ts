/**
 * The request budget's state file, shared between processes: kept in a
 * directory that is this user's own; one that others may write to (a
 * planted directory in a shared /tmp) is not used.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RequestBudget } from '../../src/remotes/osf/budget.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function scratch(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'annexd-budget-'));
  dirs.push(d);
  return d;
}

describe('RequestBudget state shared through a file', () => {
  it('is made owner-only and holds what every holder took', async () => {
    const dir = join(await scratch(), 'run');
    const file = join(dir, 'osf-budget.json');
    const a = new RequestBudget(1, 2, file);
    const b = new RequestBudget(1, 2, file);
    await a.take();
    await b.take();
    // Both took from the one bucket of 2: it is (nearly) empty for everyone.
    const st = JSON.parse(await readFile(file, 'utf8')) as { tokens: number };
    expect(st.tokens).toBeLessThan(0.5);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('is not used in a directory others may write to: each process keeps its own', async () => {
    const dir = join(await scratch(), 'planted');
    await mkdir(dir);
    await chmod(dir, 0o777);
    const file = join(dir, 'osf-budget.json');
    await new RequestBudget(5, 2, file).take();
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
  });
});
