/**
 * annexd's bin/ directory, first on the PATH of the git and git-annex that
 * annexd commands run: git-annex then finds this annexd's special remotes
 * (and git its remote helpers) even when the user has not put bin/ on PATH.
 */
import { delimiter, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/util/ → the package root's bin/. */
export const BIN_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin');

/** The environment with bin/ first on PATH. */
export function withAnnexdBin(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PATH: `${BIN_DIR}${delimiter}${env.PATH ?? ''}` };
}
