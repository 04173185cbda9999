/** What both git-remote-* programs share: arguments, --help, one-line errors. */
import { resolve } from 'node:path';
import { GitRemoteError } from './errors.js';
import { RemoteHelper } from './helper.js';
import type { RemoteSpec } from './url.js';
import { redact } from '../util/redact.js';

export async function runHelper(program: string, help: string, parse: (url: string) => RemoteSpec | Promise<RemoteSpec>): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--help' || args[0] === '-h') {
    process.stdout.write(help);
    return;
  }
  process.stderr.on('error', () => undefined);
  let helper: RemoteHelper | undefined;
  try {
    if (args.length < 1 || args.length > 2) throw new GitRemoteError(`usage: ${program} REMOTE [URL] (git runs this program for its URLs; see --help)`);
    const gitDir = process.env.GIT_DIR;
    if (!gitDir) throw new GitRemoteError('GIT_DIR is not set: this program is run by git (git clone/fetch/push with its URLs), not by hand; see --help');
    const remoteName = args[0]!;
    const spec = await parse(args[1] ?? remoteName);
    helper = new RemoteHelper({ program, remoteName, spec, gitDir: resolve(gitDir) });
    process.exitCode = await helper.serve();
  } catch (err) {
    const msg = err instanceof GitRemoteError ? err.message : (err as Error).stack ?? String(err);
    process.stderr.write(`${program}: ${redact(msg.replace(/\n+/g, ' ').trim())}\n`);
    process.exitCode = 1;
  } finally {
    await helper?.close().catch(() => undefined);
  }
}
