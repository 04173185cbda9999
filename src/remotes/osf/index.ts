/**
 * annexd-osf: git-annex special remote for the Open Science Framework (OSF
 * Storage of a project or component), in datalad-osf's layouts: annex mode,
 * one flat file per key at the storage root, named by the key; export mode
 * (exporttree=yes), the tree with its folders. `osf` is the drop-in for
 * datalad-osf's git-annex-remote-osf: the same remote under its externaltype.
 */
import type { LocalPath, RequestContext } from '../../protocol/contract.js';
import type { WireName } from '../../protocol/wire.js';
import type { Backend, BackendDefinition, ExportBackend, TransferContext } from '../core/backend.js';
import { credentialKnown, MissingCredentialsError, type Credential } from '../core/credentials.js';
import { encodedExportName, utf8ExportName } from '../core/export-names.js';
import { holdsKey } from '../core/keys.js';
import { rememberCredential } from '../core/local-creds.js';
import { osfSchema, osfSettings, type OsfSettings } from './config.js';
import { CREDS_SETTING, resolveOsfToken, tokenHelp, toRemembered } from './credentials.js';
import { describeOsfError } from './errors.js';
import type { OsfStorage } from './storage.js';

/**
 * Export names are OSF paths: no "." or ".." or empty segments (OSF has no
 * such names), and UTF-8 (OSF's names are JSON strings): a name that is not
 * goes under the reserved folder of core/export-names, as on S3.
 */
const exportPath = (name: WireName): string => utf8ExportName(name, 'annexd-osf');

class OsfBackend implements Backend {
  readonly exporter: ExportBackend;

  constructor(private readonly osf: OsfStorage) {
    this.exporter = {
      store: (name, _key, file, t) => osf.put(exportPath(name), file, t),
      retrieve: (name, _key, file, t) => osf.get(exportPath(name), file, t),
      checkPresent: async (name, key, ctx) => {
        const f = await osf.find(exportPath(name), ctx);
        return holdsKey(key, f && { size: f.size }, ctx);
      },
      remove: (name, _key, ctx) => osf.delete(exportPath(name), ctx),
      // Exactly that folder (datalad-osf removes whichever top-level folder it finds first), and its
      // counterpart under NON_UTF8_DIR, where files below it whose names are not UTF-8 went.
      removeDirectory: async (dir, ctx) => {
        await osf.deleteFolder(exportPath(dir), ctx);
        if (dir.text !== undefined) await osf.deleteFolder(encodedExportName(dir), ctx);
      },
      rename: (name, _key, newName, ctx) => osf.move(exportPath(name), exportPath(newName), ctx),
    };
  }

  store(key: string, file: LocalPath, t: TransferContext): Promise<void> {
    return this.osf.put(key, file, t);
  }

  retrieve(key: string, file: LocalPath, t: TransferContext): Promise<void> {
    return this.osf.get(key, file, t);
  }

  async checkPresent(key: string, ctx: RequestContext): Promise<boolean> {
    const f = await this.osf.find(key, ctx);
    return holdsKey(key, f && { size: f.size }, ctx);
  }

  remove(key: string, ctx: RequestContext): Promise<void> {
    return this.osf.delete(key, ctx);
  }

  info(): Array<[string, string]> {
    const s = this.osf.settings;
    return [
      ['node', s.node],
      ['api', s.api],
      ['token', this.osf.client.credential ? this.osf.client.credential.source : '(none: public nodes only)'],
      ['request rate', `${s.requestRate}/s`],
    ];
  }

  close(): Promise<void> {
    return this.osf.close();
  }
}

async function connect(s: OsfSettings, credential: Credential | undefined, tree = false): Promise<OsfStorage> {
  // Loaded here, not at start-up: the client brings in undici.
  const [{ OsfClient }, { OsfStorage }] = await Promise.all([import('./client.js'), import('./storage.js')]);
  return new OsfStorage(await OsfClient.connect(s.api, credential, s.requestRate), s, tree);
}

export const osfDefinition: BackendDefinition<typeof osfSchema> = {
  externalType: 'annexd-osf',
  summary: 'git-annex special remote for OSF Storage (osf.io projects and components), in datalad-osf\'s layouts',
  schema: osfSchema,
  exportCapable: true,
  repoSettings: { credential: credentialKnown },
  async initRemote(config, ctx) {
    const s = osfSettings(config);
    const credential = await resolveOsfToken(ctx, s);
    if (!credential) throw new MissingCredentialsError(`no OSF token: ${tokenHelp(s)}`);
    const osf = await connect(s, credential);
    try {
      const who = await osf.whoami(ctx);
      const node = await osf.node(ctx);
      const attrs = node.attributes;
      const title = typeof attrs === 'object' && attrs !== null && !Array.isArray(attrs) && typeof attrs.title === 'string' ? attrs.title : s.node;
      const perms = typeof attrs === 'object' && attrs !== null && !Array.isArray(attrs) ? attrs.current_user_permissions : undefined;
      await ctx.annex.info(`OSF node ${s.node} ("${title}") as ${who}`);
      // Reading needs no write access (a clone enabling the remote): say so, do not fail.
      if (Array.isArray(perms) && !perms.includes('write')) {
        await ctx.annex.info(`${who} may read but not write OSF node ${s.node}: storing and dropping will be refused; ask for write access to the project to change that`);
      }
    } finally {
      await osf.close();
    }
    // As for the other remotes: a token from the environment, once OSF has accepted it, is kept for later runs.
    if (credential.origin === 'environment') await rememberCredential(ctx, CREDS_SETTING, toRemembered(credential));
  },
  async open(config, ctx) {
    const s = osfSettings(config);
    // Without a token, public nodes can still be read; anything else answers 401/403, reported with the fix.
    const tree = (await ctx.annex.getConfig('exporttree')).toLowerCase() === 'yes';
    return new OsfBackend(await connect(s, await resolveOsfToken(ctx, s), tree));
  },
  describeError(err, operation, config) {
    let s: OsfSettings;
    try {
      s = osfSettings(config);
    } catch (e) {
      return (e as Error).message;
    }
    return describeOsfError(err, operation, s);
  },
};

/** The drop-in for datalad-osf's git-annex-remote-osf: same externaltype, settings and layouts. */
export const osfAliasDefinition: BackendDefinition<typeof osfSchema> = {
  ...osfDefinition,
  externalType: 'osf',
  summary: "annexd's OSF remote under datalad-osf's externaltype=osf: datasets made by datalad-osf work unchanged",
};
