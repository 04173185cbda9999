/**
 * Credentials a remote remembers for one repository, kept out of the protocol:
 * git-annex's --debug trace prints every SETCREDS/CREDS line, so a secret sent
 * that way ends up in bug reports. The file lives in the repository's git dir,
 * keyed by the remote's UUID, owner-only (dir 0700, file 0600), written atomically.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import type { RequestContext } from '../../protocol/contract.js';
import type { Credential, CredentialSource } from './credentials.js';

async function credsPath(ctx: RequestContext, name: string): Promise<{ dir: Buffer; file: Buffer }> {
  const gitDir = await ctx.annex.getGitDir();
  const uuid = await ctx.annex.getUUID();
  if (!/^[0-9a-zA-Z-]+$/.test(uuid)) throw new Error(`unexpected remote uuid "${uuid}"`);
  const dir = Buffer.concat([gitDir, Buffer.from('/annex/annexd/creds')]);
  return { dir, file: Buffer.concat([dir, Buffer.from(`/${uuid}-${name}.json`)]) };
}

export function fromLocalFile(name: string): CredentialSource {
  return {
    async find(ctx) {
      const { file } = await credsPath(ctx, name);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
      const parsed = JSON.parse(text) as { user?: unknown; secret?: unknown };
      if (typeof parsed.user !== 'string' || typeof parsed.secret !== 'string') return undefined;
      return {
        user: parsed.user,
        secret: parsed.secret,
        origin: 'remembered',
        source: 'credentials remembered at initremote (.git/annex/annexd/creds)',
      };
    },
  };
}

export async function saveLocalFile(ctx: RequestContext, name: string, credential: Credential): Promise<void> {
  const { dir, file } = await credsPath(ctx, name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const tmp = Buffer.concat([file, Buffer.from(`.${randomBytes(6).toString('hex')}.tmp`)]);
  await writeFile(tmp, JSON.stringify({ user: credential.user, secret: credential.secret }) + '\n', { mode: 0o600, flag: 'wx' });
  await rename(tmp, file);
}

/**
 * Keeps a pair the server accepted at initremote for later runs: in the
 * owner-only local file, or, when the user asked for embedcreds=yes, in
 * git-annex's own store (which puts it in the git-annex branch and shows it in --debug).
 */
export async function rememberCredential(ctx: RequestContext, name: string, credential: Credential): Promise<void> {
  if ((await ctx.annex.getConfig('embedcreds')).toLowerCase() === 'yes') {
    await ctx.annex.setCreds(name, credential.user, credential.secret);
  } else {
    await saveLocalFile(ctx, name, credential);
  }
}
