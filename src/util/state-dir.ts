/**
 * Where annexd's per-user state lives: the sync daemon's files, and the
 * socket through which remote processes report their transfers to it. Low
 * level on purpose: the daemon and the remotes (which must not import the
 * daemon) both resolve it the same way.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** $ANNEXD_STATE_DIR, else $XDG_STATE_HOME/annexd, else ~/.local/state/annexd. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ANNEXD_STATE_DIR) return resolve(env.ANNEXD_STATE_DIR);
  if (env.XDG_STATE_HOME) return join(resolve(env.XDG_STATE_HOME), 'annexd');
  return join(env.HOME || homedir(), '.local', 'state', 'annexd');
}

/** The running daemon's Unix socket for transfer reports (one JSON object a line). */
export const progressSocket = (dir: string = stateDir()): string => join(dir, 'progress.sock');

/**
 * Set in the daemon's own environment (so in every git-annex it runs):
 * remote processes then do not report, because the daemon already follows
 * its own pushes through git-annex's --json-progress. Users may set it to
 * switch reporting off.
 */
export const NO_REPORT_ENV = 'ANNEXD_NO_DAEMON_REPORT';
