/**
 * The archive's own content in this repository: where git-annex keeps it, and
 * getting it from wherever git-annex knows it is (a nested
 * `git annex get --key`, as DataLad's remote does) when it is not here.
 */
import { resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { exec } from '../../util/exec.js';
import { formatSize } from '../core/sizes.js';
import { keySize } from '../core/keys.js';
import { ArchiveUnavailableError } from './errors.js';

interface AnnexJson {
  success?: boolean;
  note?: string;
  'error-messages'?: string[];
  whereis?: Array<{ uuid: string; description: string; here: boolean }>;
}

function lastJson(stdout: string): AnnexJson | undefined {
  const line = stdout.trim().split('\n').filter(Boolean).pop();
  if (!line) return undefined;
  try {
    return JSON.parse(line) as AnnexJson;
  } catch {
    return undefined;
  }
}

/**
 * The environment of nested git-annex commands. git-annex starts a remote with
 * GIT_DIR and GIT_WORK_TREE relative to where the user ran it (e.g.
 * GIT_DIR=../../.git from a subdirectory); the nested commands run at the top,
 * so they get them absolute.
 */
const NESTED_ENV: NodeJS.ProcessEnv = (() => {
  const env = { ...process.env };
  for (const name of ['GIT_DIR', 'GIT_WORK_TREE'] as const) {
    const v = env[name];
    if (v) env[name] = resolve(process.cwd(), v);
  }
  return env;
})();

/** How long an answer of `git annex whereis` is used again. */
const WHEREIS_FRESH_MS = 60_000;

export class ArchiveContent {
  /** Where each archive was found, so 1,000 members do not ask git-annex 1,000 times. */
  private readonly found = new Map<string, string>();
  private readonly whereis = new Map<string, { recorded: boolean; at: number }>();

  /** `cwd`: the top of the repository (git annex contentlocation answers relative to it). */
  constructor(private readonly cwd: string) {}

  private annex(args: string[]): ReturnType<typeof exec> {
    return exec('git', ['annex', ...args], { cwd: this.cwd, env: NESTED_ENV });
  }

  /** The path of the archive's content here, or undefined when it is not here. */
  async locate(archiveKey: string): Promise<string | undefined> {
    const known = this.found.get(archiveKey);
    if (known && (await stat(known).catch(() => undefined))) return known;
    this.found.delete(archiveKey);
    const r = await this.annex(['contentlocation', archiveKey]);
    const rel = r.stdout.trim();
    if (r.code !== 0 || !rel) return undefined;
    const path = resolve(this.cwd, rel);
    this.found.set(archiveKey, path);
    return path;
  }

  /**
   * Whether git-annex records a copy of the archive anywhere (here or a
   * remote). Remembered for a while: `fsck --from` of 1,000 members of one
   * archive asks once, not 1,000 times.
   */
  async recorded(archiveKey: string): Promise<boolean> {
    const seen = this.whereis.get(archiveKey);
    if (seen && Date.now() - seen.at < WHEREIS_FRESH_MS) return seen.recorded;
    const r = await this.annex(['whereis', '--json', '--key', archiveKey]);
    const recorded = (lastJson(r.stdout)?.whereis?.length ?? 0) > 0;
    this.whereis.set(archiveKey, { recorded, at: Date.now() });
    return recorded;
  }

  /** The archive's content here, getting it first when it is not. */
  async obtain(archiveKey: string, member: string, info: (message: string) => Promise<void>): Promise<string> {
    const here = await this.locate(archiveKey);
    if (here) return here;
    const size = keySize(archiveKey);
    await info(`getting archive ${archiveKey}${size === undefined ? '' : ` (${formatSize(size)})`} to extract "${member}" from it`);
    const r = await this.annex(['get', '--json', '--json-error-messages', '--key', archiveKey]);
    const result = lastJson(r.stdout);
    const got = await this.locate(archiveKey);
    if (got) return got;
    const said = [result?.note, ...(result?.['error-messages'] ?? []), r.stderr.trim().split('\n').pop()]
      .filter((s): s is string => !!s && !/^get: \d+ failed$/.test(s))
      .map((s) => s.replace(/\s+/g, ' ').trim());
    const why = said.length > 0 ? `git-annex says: ${[...new Set(said)].join('; ')}` : `git annex get exited ${r.code}`;
    const fix = (await this.recorded(archiveKey))
      ? `make one of the repositories that have it available (git annex whereis --key ${archiveKey})`
      : `no repository or remote is known to have it: add the archive again, or register a URL for it (git annex registerurl ${archiveKey} URL)`;
    throw new ArchiveUnavailableError(`cannot get archive ${archiveKey}, which holds "${member}": ${why}; ${fix}`);
  }
}
