/** `git annex initremote NAME type=external externaltype=annexd-http …`. */
export async function initHttpRemote(
  repo: { okEnv(env: NodeJS.ProcessEnv, cmd: string, ...args: string[]): Promise<unknown> },
  name: string,
  params: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  await repo.okEnv(env, 'git', 'annex', 'initremote', name, 'type=external', 'externaltype=annexd-http', 'encryption=none', ...params);
}
