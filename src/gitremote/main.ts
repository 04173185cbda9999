/** What both git-remote-* programs share: arguments, --help, one-line errors. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isatty } from 'node:tty';
import { ok } from './git.js';
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
  let scratch: string | undefined;
  // Git's process group gets the signal too, so the git-annex runs under way
  // stop by themselves; the helper then takes its lease back and exits. Git
  // itself is gone by then and signals its children again as it dies, so
  // later signals are ignored; the clean-up is bounded in time instead.
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    const code = 128 + (sig === 'SIGINT' ? 2 : 15);
    if (signalled) return;
    signalled = true;
    const giveUp = setTimeout(() => process.exit(code), 15_000);
    void (async () => {
      await helper?.interrupted();
      await helper?.close().catch(() => undefined);
      clearTimeout(giveUp);
      process.exit(code);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    if (args.length < 1 || args.length > 2) throw new GitRemoteError(`usage: ${program} REMOTE [URL] (git runs this program for its URLs; see --help)`);
    let gitDir = process.env.GIT_DIR;
    if (!gitDir) {
      if (isatty(0)) throw new GitRemoteError('this program is run by git (git clone/fetch/push with its URLs), not by hand; see --help');
      // Outside a repository (git ls-remote URL) git gives no GIT_DIR: the work happens in a scratch one.
      scratch = await mkdtemp(join(tmpdir(), 'annexd-gitremote-'));
      gitDir = join(scratch, 'git');
      await ok(scratch, 'git init', 'git', ['init', '-q', '--bare', gitDir]);
    }
    const remoteName = args[0]!;
    const spec = await parse(args[1] ?? remoteName);
    helper = new RemoteHelper({ program, remoteName, spec, gitDir: resolve(gitDir) });
    process.exitCode = await helper.serve();
  } catch (err) {
    // Interrupted: what failed was stopped by the signal, whose handler finishes up.
    if (signalled) await new Promise<void>(() => undefined);
    const msg = err instanceof GitRemoteError ? err.message : (err as Error).stack ?? String(err);
    process.stderr.write(`${program}: ${redact(msg.replace(/\n+/g, ' ').trim())}\n`);
    process.exitCode = 1;
  } finally {
    await helper?.close().catch(() => undefined);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}
