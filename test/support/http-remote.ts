import { initExternalRemote } from './annex.js';

/** `git annex initremote NAME type=external externaltype=annexd-http …`. */
export function initHttpRemote(
  repo: { okEnv(env: NodeJS.ProcessEnv, cmd: string, ...args: string[]): Promise<unknown> },
  name: string,
  params: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  return initExternalRemote(repo, 'annexd-http', name, params, env);
}
