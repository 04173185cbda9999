/**
 * Tests never skip silently: a missing tool fails the test with the command
 * that installs it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN_DIR = join(REPO_ROOT, 'bin');

const checked = new Map<string, string | undefined>();

/** Throws a message naming the install command when `tool` is not on PATH. */
export function requireTool(tool: string, install: string): void {
  if (!checked.has(tool)) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    checked.set(tool, r.status === 0 ? r.stdout.trim() : undefined);
  }
  if (!checked.get(tool)) {
    throw new Error(`this test needs ${tool}, which is not installed: run "${install}" (scripts/setup.sh does it)`);
  }
}

/** Throws unless the TypeScript build exists (the bin/ launchers run dist/). */
export function requireBuild(): void {
  if (!existsSync(join(REPO_ROOT, 'dist', 'remotes', 's3', 'main.js'))) {
    throw new Error('dist/ is missing: run "npm run build" first (npm test does it)');
  }
}
