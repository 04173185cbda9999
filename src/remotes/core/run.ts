/**
 * Entry point shared by every git-annex-remote-annexd-* program: keeps stdout
 * for protocol lines only, answers --help, runs the session, and exits once
 * git-annex closes stdin (open keep-alive sockets must not keep us alive).
 */
import { Session } from '../../protocol/session.js';
import { redact } from '../../util/redact.js';
import { createSpecialRemote, type BackendDefinition } from './backend.js';
import type { Schema } from './config.js';

function toStderr(...args: unknown[]): void {
  process.stderr.write(redact(args.map(String).join(' ')) + '\n');
}

/** Time an interrupted remote gets to abort uploads before it exits regardless. */
const SIGNAL_GRACE_MS = 3000;

/** The shell's convention: 128 + signal number. */
const exitCodeOf = (sig: NodeJS.Signals): number => 128 + (sig === 'SIGINT' ? 2 : 15);

export function helpText<S extends Schema>(def: BackendDefinition<S>): string {
  const lines = [
    `git-annex-remote-${def.externalType}: ${def.summary}`,
    '',
    'This program is started by git-annex, which talks to it over stdin/stdout.',
    'Set up a remote with:',
    `  git annex initremote NAME type=external externaltype=${def.externalType} encryption=none [KEY=VALUE ...]`,
    '',
    'Settings:',
    ...Object.entries(def.schema).map(([name, f]) => `  ${name.padEnd(18)} ${f.description}`),
  ];
  return lines.join('\n') + '\n';
}

export async function runRemote<S extends Schema>(def: BackendDefinition<S>): Promise<void> {
  const arg = process.argv[2];
  if (arg === '--help' || arg === '-h') {
    process.stdout.write(helpText(def));
    return;
  }
  if (arg !== undefined) {
    process.stderr.write(`git-annex-remote-${def.externalType}: unexpected argument "${arg}" (try --help)\n`);
    process.exitCode = 2;
    return;
  }
  // When git-annex is gone, a diagnostic written to its stderr pipe fails with EPIPE;
  // unhandled, that error would kill us before in-flight uploads are aborted.
  process.stderr.on('error', () => undefined);
  // Libraries must never print to stdout: git-annex would read it as protocol.
  console.log = toStderr;
  console.info = toStderr;
  console.warn = toStderr;
  console.debug = toStderr;

  const session = new Session(createSpecialRemote(def), {
    input: process.stdin,
    output: process.stdout,
    log: (m) => toStderr(m),
    extensions: process.env.ANNEXD_NO_ASYNC ? ['INFO', 'GETGITREMOTENAME'] : undefined,
  });
  // Ctrl-C reaches the whole process group. Stop cleanly (an interrupted multipart
  // upload is aborted, not left as orphan parts), but never block the signal: the
  // grace period caps the clean-up, and a second Ctrl-C exits at once. git-annex,
  // interrupted too, follows up with SIGTERM: that one must not cut the clean-up short.
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) {
      if (sig === 'SIGINT' && signalled === 'SIGINT') process.exit(exitCodeOf(sig));
      return;
    }
    signalled = sig;
    session.stop();
    setTimeout(() => process.exit(exitCodeOf(sig)), SIGNAL_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await session.run();
  process.exit(signalled ? exitCodeOf(signalled) : 0);
}
