/**
 * annexd-s3: git-annex special remote for S3 and S3-compatible stores.
 * Objects are stored flat as <prefix><key> (the layout of git-annex's own S3
 * remote); export trees put files at <prefix><path>.
 */
import type { LocalPath, RequestContext } from '../../protocol/contract.js';
import type { WireName } from '../../protocol/wire.js';
import type { Backend, BackendDefinition, ExportBackend, TransferContext } from '../core/backend.js';
import { credentialKnown } from '../core/credentials.js';
import { holdsKey, keySize } from '../core/keys.js';
import { describeEndpoint, s3Schema, s3Settings, type S3Settings } from './config.js';
import { CREDS_SETTING, resolveS3Auth, type S3Auth } from './credentials.js';
import { describeS3Error } from './errors.js';
import { encodeSegment } from './address.js';
import { utf8ExportName } from '../core/export-names.js';
import type { S3Store } from './store.js';
import { rememberCredential } from '../core/local-creds.js';

/** Where an export name lives: under the prefix, by the rule of core/export-names (UTF-8 as is, other bytes encoded). */
function exportObjectKey(s: S3Settings, name: WireName): string {
  return s.prefix + utf8ExportName(name, 'annexd-s3');
}

class S3Backend implements Backend {
  readonly exporter: ExportBackend;

  constructor(
    private readonly objects: S3Store,
    private readonly s: S3Settings,
  ) {
    const objectOf = (name: WireName): string => exportObjectKey(s, name);
    // Export trees address objects by path; the key only matters for URL bookkeeping.
    this.exporter = {
      store: async (name, key, file, t) => {
        await objects.put(objectOf(name), file, t);
        await this.recordUrl(key, objectOf(name), t, true);
      },
      retrieve: (name, key, file, t) => objects.get(objectOf(name), file, t, keySize(key)),
      checkPresent: async (name, key, ctx) => holdsKey(key, await objects.stat(objectOf(name), ctx), ctx),
      remove: async (name, key, ctx) => {
        await objects.delete(objectOf(name), ctx);
        await this.recordUrl(key, objectOf(name), ctx, false);
      },
      // S3 has no directories: once the files are gone, so is the "directory".
      removeDirectory: async () => undefined,
      rename: async (name, key, newName, ctx) => {
        await objects.copy(objectOf(name), objectOf(newName), ctx);
        await objects.delete(objectOf(name), ctx);
        await this.recordUrl(key, objectOf(name), ctx, false);
        await this.recordUrl(key, objectOf(newName), ctx, true);
      },
    };
  }

  private objectKey(key: string): string {
    return this.s.prefix + key;
  }

  private publicUrl(objectKey: string): string | undefined {
    return this.s.publicUrl ? `${this.s.publicUrl}/${objectKey.split('/').map(encodeSegment).join('/')}` : undefined;
  }

  /** Records (or forgets) the public URL so readonly=true clones can download over HTTP. */
  private async recordUrl(key: string, objectKey: string, ctx: RequestContext, present: boolean): Promise<void> {
    const url = this.publicUrl(objectKey);
    if (!url) return;
    if (present) await ctx.annex.setUrlPresent(key, url);
    else await ctx.annex.setUrlMissing(key, url);
  }

  async store(key: string, file: LocalPath, t: TransferContext): Promise<void> {
    await this.objects.put(this.objectKey(key), file, t);
    await this.recordUrl(key, this.objectKey(key), t, true);
  }

  retrieve(key: string, file: LocalPath, t: TransferContext): Promise<void> {
    return this.objects.get(this.objectKey(key), file, t, keySize(key));
  }

  async checkPresent(key: string, ctx: RequestContext): Promise<boolean> {
    return holdsKey(key, await this.objects.stat(this.objectKey(key), ctx), ctx);
  }

  async remove(key: string, ctx: RequestContext): Promise<void> {
    await this.objects.delete(this.objectKey(key), ctx);
    await this.recordUrl(key, this.objectKey(key), ctx, false);
  }

  whereis(key: string): string | undefined {
    return this.publicUrl(this.objectKey(key));
  }

  info(): Array<[string, string]> {
    const s = this.s;
    const rows: Array<[string, string]> = [
      ['bucket', s.bucket],
      ['endpoint', describeEndpoint(s)],
      ['region', s.region],
      ['prefix', s.prefix || '(none)'],
      ['addressing', s.pathStyle ? 'path-style' : 'virtual-hosted'],
    ];
    if (s.publicUrl) rows.push(['public url', s.publicUrl]);
    return rows;
  }

  async close(): Promise<void> {
    this.objects.close();
  }
}

/** Resolves credentials and opens a client; `auth` is passed when the caller already has it. */
export async function connectS3(s: S3Settings, ctx: RequestContext, auth?: S3Auth): Promise<S3Store> {
  const a = auth ?? (await resolveS3Auth(ctx, s));
  // Loaded here, not at start-up: the store brings in the AWS SDK and the signer.
  const { S3Store } = await import('./store.js');
  return 'credential' in a ? S3Store.connect(s, a.credential) : S3Store.connect(s, undefined, a.profile);
}

export const s3Definition: BackendDefinition<typeof s3Schema> = {
  externalType: 'annexd-s3',
  summary: 'git-annex special remote for Amazon S3 and S3-compatible object stores',
  schema: s3Schema,
  exportCapable: true,
  repoSettings: { credential: credentialKnown },
  async initRemote(config, ctx) {
    const s = s3Settings(config);
    const auth = await resolveS3Auth(ctx, s);
    const store = await connectS3(s, ctx, auth);
    try {
      const outcome = await store.ensureBucket(ctx);
      await ctx.annex.info(`bucket "${s.bucket}" ${outcome === 'created' ? 'created' : 'found'} at ${describeEndpoint(s)}`);
    } finally {
      store.close();
    }
    // Like git-annex's own S3 remote, remember credentials given in the environment,
    // once the server has accepted them.
    if ('credential' in auth && auth.credential.origin === 'environment') {
      if (auth.credential.sessionToken) {
        await ctx.annex.info('temporary credentials (AWS_SESSION_TOKEN) are not remembered; set them again for each use');
      } else {
        await rememberCredential(ctx, CREDS_SETTING, auth.credential);
      }
    }
  },
  async open(config, ctx) {
    const s = s3Settings(config);
    return new S3Backend(await connectS3(s, ctx), s);
  },
  describeError(err, operation, config) {
    return describeS3Error(err, operation, s3Settings(config));
  },
};
