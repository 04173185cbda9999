/**
 * Runs git and git-annex for the helper. Git hands a remote helper GIT_DIR and
 * friends for the user's repository; commands aimed at the mirror or the
 * throwaway annex repository must not inherit them, and nothing may prompt.
 */
import { exec, type ExecResult } from '../util/exec.js';
import { redact } from '../util/redact.js';
import { GitRemoteError } from './errors.js';

/** Variables through which git points a child at a repository (or a quarantine). */
const REPO_VARIABLES = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_QUARANTINE_PATH',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
  'GIT_PROTOCOL',
];

/** The environment for a command run in `dir` (not the user's repository). */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', SSH_ASKPASS: 'true' };
  for (const v of REPO_VARIABLES) delete env[v];
  return { ...env, ...extra };
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
}

export function run(cwd: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  return exec(cmd, args, { cwd, env: opts.env ?? cleanEnv(), input: opts.input });
}

/** The last meaningful line of a failed command's output, for a one-line error. */
export function lastLine(r: ExecResult): string {
  const pick = (text: string): string | undefined =>
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^\(recording state in git|^\(merging|^ok$|^failed$|^\d+%|Cannot run git-annex-backend|^(git-annex: )?\S+: \d+ failed$/.test(l))
      .at(-1);
  // Errors are on stderr; git-annex's stdout only names the step ("initremote origin").
  const line = pick(r.stderr) ?? pick(r.stdout) ?? `exit code ${r.code}`;
  return redact(line.replace(/^(error|git-annex): /, ''));
}

/** Runs a command and throws a GitRemoteError with `what` and the command's last line when it fails. */
export async function ok(cwd: string, what: string, cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cwd, cmd, args, opts);
  if (r.code !== 0) throw new GitRemoteError(`${what}: ${lastLine(r)}`);
  return r.stdout;
}
