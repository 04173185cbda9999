/**
 * annexd-webdav: git-annex special remote for WebDAV servers. Keys are stored
 * as <url>/<DIRHASH-LOWER><key> (hash directories, like git-annex's directory
 * remote); export trees put files at <url>/<path>.
 */
import type { LocalPath, RequestContext } from '../../protocol/contract.js';
import { RemoteError } from '../../protocol/errors.js';
import type { WireName } from '../../protocol/wire.js';
import type { Backend, BackendDefinition, ExportBackend, TransferContext } from '../core/backend.js';
import { credentialKnown, type Credential } from '../core/credentials.js';
import { checkedExportName, encodePathBytes } from '../core/export-names.js';
import { dirhashLower, holdsKey, keySize } from '../core/keys.js';
import { rememberCredential } from '../core/local-creds.js';
import { TMP_COLLECTION, webdavSchema, webdavSettings, type WebdavSettings } from './config.js';
import { CREDS_SETTING, resolveWebdavCredential } from './credentials.js';
import type { DavStore } from './dav.js';
import { describeDavError } from './errors.js';

/** Percent-encodes each segment of a slash-separated path of text. */
const encodePath = (path: string): string => encodePathBytes(Buffer.from(path, 'utf8'));

/**
 * Export paths become URL paths, byte for byte: a name that is not UTF-8
 * (Latin-1 in old datasets) is percent-encoded as it is, and the server
 * stores exactly those bytes. Refused: "." and ".." segments (a server
 * resolves them, and could write outside the collection), empty segments,
 * and TMP_COLLECTION, where uploads in progress live.
 */
function exportPath(name: WireName): string {
  const wire = checkedExportName(name);
  if (wire === TMP_COLLECTION || wire.startsWith(`${TMP_COLLECTION}/`)) {
    throw new RemoteError(`cannot export "${name}": annexd-webdav keeps uploads in progress in ${TMP_COLLECTION}/; rename it, or export a subdirectory`);
  }
  return encodePathBytes(name.bytes);
}

class WebdavBackend implements Backend {
  readonly exporter: ExportBackend;

  constructor(private readonly dav: DavStore) {
    this.exporter = {
      store: (name, _key, file, t) => dav.put(exportPath(name), file, t),
      retrieve: (name, key, file, t) => dav.get(exportPath(name), file, t, keySize(key)),
      checkPresent: async (name, key, ctx) => holdsKey(key, await dav.stat(exportPath(name), ctx), ctx),
      remove: (name, _key, ctx) => dav.delete(exportPath(name), ctx),
      // Already gone counts as removed (DELETE's 404 is success).
      removeDirectory: (dir, ctx) => dav.delete(`${exportPath(dir)}/`, ctx),
      rename: (name, _key, newName, ctx) => dav.move(exportPath(name), exportPath(newName), ctx),
    };
  }

  /** Where a key lives: <DIRHASH-LOWER><key>, git-annex's layout (computed here; asked of git-annex for a key that is not ASCII). */
  private async keyPath(key: string, ctx: RequestContext): Promise<string> {
    return encodePath((dirhashLower(key) ?? (await ctx.annex.dirhashLower(key))) + key);
  }

  async store(key: string, file: LocalPath, t: TransferContext): Promise<void> {
    await this.dav.put(await this.keyPath(key, t), file, t);
  }

  async retrieve(key: string, file: LocalPath, t: TransferContext): Promise<void> {
    await this.dav.get(await this.keyPath(key, t), file, t, keySize(key));
  }

  async checkPresent(key: string, ctx: RequestContext): Promise<boolean> {
    return holdsKey(key, await this.dav.stat(await this.keyPath(key, ctx), ctx), ctx);
  }

  async remove(key: string, ctx: RequestContext): Promise<void> {
    await this.dav.delete(await this.keyPath(key, ctx), ctx);
  }

  info(): Array<[string, string]> {
    return [
      ['url', this.dav.settings.url],
      ['user', this.dav.client.credential?.user ?? '(anonymous)'],
    ];
  }

  close(): Promise<void> {
    return this.dav.close();
  }
}

async function connect(s: WebdavSettings, credential: Credential | undefined): Promise<DavStore> {
  // Loaded here, not at start-up: the client brings in undici.
  const [{ DavClient }, { DavStore }] = await Promise.all([import('./client.js'), import('./dav.js')]);
  return new DavStore(await DavClient.connect(s.url, credential), s);
}

export const webdavDefinition: BackendDefinition<typeof webdavSchema> = {
  externalType: 'annexd-webdav',
  summary: 'git-annex special remote for WebDAV servers (Nextcloud, Apache mod_dav, lighttpd, rclone, …)',
  schema: webdavSchema,
  exportCapable: true,
  repoSettings: { credential: credentialKnown },
  async initRemote(config, ctx) {
    const s = webdavSettings(config);
    const credential = await resolveWebdavCredential(ctx, s);
    const dav = await connect(s, credential);
    try {
      const outcome = await dav.ensureBase(ctx);
      await ctx.annex.info(`WebDAV collection ${s.url} ${outcome}`);
    } finally {
      await dav.client.close();
    }
    // Like git-annex's own webdav remote, remember credentials given in the environment,
    // once the server has accepted them.
    if (credential?.origin === 'environment') await rememberCredential(ctx, CREDS_SETTING, credential);
  },
  async open(config, ctx) {
    const s = webdavSettings(config);
    return new WebdavBackend(await connect(s, await resolveWebdavCredential(ctx, s)));
  },
  describeError(err, operation, config) {
    return describeDavError(err, operation, webdavSettings(config));
  },
};
