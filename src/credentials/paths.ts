/** Where the credential store keeps its files: $ANNEXD_CONFIG_DIR, else $XDG_CONFIG_HOME/annexd, else ~/.config/annexd. */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ANNEXD_CONFIG_DIR) return env.ANNEXD_CONFIG_DIR;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'annexd');
}
