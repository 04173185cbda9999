/** Where a secret ended up: every file under a directory that contains it. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const p = join(entry.parentPath, entry.name);
    if ((await readFile(p).catch(() => Buffer.alloc(0))).includes(needle)) found.push(p);
  }
  return found;
}
