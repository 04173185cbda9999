/**
 * The backend contract every annexd remote implements, and the adapter that
 * turns a backend definition into the protocol engine's SpecialRemote: config
 * validation, error mapping and progress are done here once.
 */
import type {
  Availability,
  CheckUrlResult,
  ConfigDescription,
  ExportHandler,
  LocalPath,
  RequestContext,
  SpecialRemote,
} from '../../protocol/contract.js';
import { messageOf, RemoteError, UnsupportedRequestError } from '../../protocol/errors.js';
import { wireToDisplay, type WireName } from '../../protocol/wire.js';
import { readConfig, type ConfigOf, type Schema } from './config.js';
import { MissingCredentialsError } from './credentials.js';
import { HttpStatusError } from './http-error.js';
import { reportTransfer, type Direction } from './daemon-report.js';
import { PROGRESS_STEP_BYTES, ProgressReporter } from './progress.js';
import { repoSettings, sharedConfig, type RepoSettingsView, type SharedDefaultCheck } from './repo-settings.js';

/** Context of one transfer: the request context plus a throttled progress reporter. */
export interface TransferContext extends RequestContext {
  readonly progress: ProgressReporter;
}

/** Export operations of a backend: the protocol's, with progress on transfers. */
export type ExportBackend = ExportHandler<TransferContext>;

/** An opened backend: what PREPARE produces. */
export interface Backend {
  store(key: string, file: LocalPath, ctx: TransferContext): Promise<void>;
  retrieve(key: string, file: LocalPath, ctx: TransferContext): Promise<void>;
  /** true / false when certain; throw when it cannot tell. */
  checkPresent(key: string, ctx: RequestContext): Promise<boolean>;
  /** Must succeed when the key is already absent. */
  remove(key: string, ctx: RequestContext): Promise<void>;
  /** Local answer only (no network), e.g. a public URL. */
  whereis?(key: string): string | undefined;
  /** CLAIMURL: whether git-annex should hand this URL to us (no network). */
  claimUrl?(url: string): boolean;
  /** CHECKURL: what a claimed URL holds. */
  checkUrl?(url: string, ctx: RequestContext): Promise<CheckUrlResult>;
  info?(): Array<[string, string]>;
  readonly exporter?: ExportBackend;
  close?(): Promise<void>;
}

export interface BackendDefinition<S extends Schema> {
  /** The externaltype, e.g. "annexd-s3"; the program is git-annex-remote-<externalType>. */
  externalType: string;
  /** One line for --help. */
  summary: string;
  schema: S;
  cost?: number;
  availability?: Availability;
  /** Whether exporttree=yes is supported. */
  exportCapable: boolean;
  /**
   * Settings that are each repository's choice (credential=): kept in the
   * repository, out of the git-annex branch; a value found in the branch is a
   * default, used where the check says it is usable (see repo-settings).
   */
  repoSettings?: Record<string, SharedDefaultCheck>;
  /** INITREMOTE (also re-run by enableremote and autoenable): check and set up. */
  initRemote?(config: ConfigOf<S>, ctx: RequestContext): Promise<void>;
  /** PREPARE: connect lazily-loaded libraries, resolve credentials. */
  open(config: ConfigOf<S>, ctx: RequestContext): Promise<Backend>;
  /** One clear line for a failure of `operation` (e.g. "store"), naming what to fix. */
  describeError(err: unknown, operation: string, config: ConfigOf<S>): string;
}

/**
 * A remote's validated settings as git-annex gives them, with this
 * repository's own choices (credential=) over them: what INITREMOTE and
 * PREPARE read, and what annexd commands acting on a remote read too.
 */
export async function readRemoteConfig<S extends Schema>(
  def: Pick<BackendDefinition<S>, 'schema' | 'repoSettings'>,
  ctx: RequestContext,
  phase: 'initremote' | 'prepare',
  shared?: Record<string, string>,
): Promise<{ cfg: ConfigOf<S>; view: RepoSettingsView | undefined }> {
  const view = def.repoSettings ? await repoSettings(ctx, def.repoSettings, phase, shared) : undefined;
  const cfg = await readConfig(def.schema, async (n) => {
    const v = await ctx.annex.getConfig(n);
    return view ? view.value(n, v) : v;
  });
  return { cfg, view };
}

/** The failure was for want of a credential (none found, or a server asking for one that was not sent). */
function lacksCredentials(err: unknown): boolean {
  for (let e: unknown = err, i = 0; i < 5 && e instanceof Error; e = e.cause, i++) {
    if (e instanceof MissingCredentialsError) return true;
    if (e instanceof HttpStatusError && (e.status === 401 || e.status === 403) && e.credentialSource === undefined) return true;
  }
  return false;
}

export function createSpecialRemote<S extends Schema>(def: BackendDefinition<S>): SpecialRemote {
  let backend: Backend | undefined;
  /** The validated config of the last INITREMOTE or PREPARE, for error messages. */
  let current: ConfigOf<S> | undefined;

  const opened = (): Backend => {
    if (!backend) throw new RemoteError('remote used before PREPARE');
    return backend;
  };

  /** Runs a backend call, mapping anything it throws to one clear RemoteError. */
  async function guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof RemoteError || err instanceof UnsupportedRequestError || current === undefined) throw err;
      throw new RemoteError(def.describeError(err, operation, current) || messageOf(err), { cause: err });
    }
  }

  /** The git remote's name, asked once per process, for the reports to a running daemon. */
  let remoteName: Promise<string | undefined> | undefined;

  async function transfer(
    operation: string,
    what: { key: string; direction: Direction; name?: WireName },
    ctx: RequestContext,
    fn: (tctx: TransferContext) => Promise<void>,
  ): Promise<void> {
    const report = reportTransfer(what.key, what.direction, what.name && wireToDisplay(what.name.wire));
    if (report) {
      // Asked alongside the transfer, not before it; answered long before the transfer ends.
      remoteName ??= ctx.annex.getGitRemoteName().catch(() => undefined);
      void remoteName.then((n) => (report.remote = n));
    }
    const progress = new ProgressReporter(ctx.annex, PROGRESS_STEP_BYTES, 200, report && ((n) => report.bytes(n)));
    let ok = false;
    try {
      await guard(operation, () => fn({ ...ctx, progress }));
      progress.finish();
      ok = true;
    } finally {
      // A name still unanswered is a query of this job: it must be done before the job's reply.
      if (report) await remoteName?.then(() => report.end(ok), () => report.end(ok));
    }
  }

  const config = async (
    ctx: RequestContext,
    phase: 'initremote' | 'prepare',
    shared?: Record<string, string>,
  ): Promise<{ cfg: ConfigOf<S>; view: RepoSettingsView | undefined }> => {
    const read = await readRemoteConfig(def, ctx, phase, shared);
    current = read.cfg;
    return read;
  };

  const exporter: ExportHandler | undefined = def.exportCapable
    ? {
        store: (name, key, file, ctx) =>
          transfer('export', { key, direction: 'store', name }, ctx, (t) => exportOps().store(name, key, file, t)),
        retrieve: (name, key, file, ctx) =>
          transfer('retrieve export', { key, direction: 'retrieve', name }, ctx, (t) => exportOps().retrieve(name, key, file, t)),
        checkPresent: (name, key, ctx) =>
          guard('check export', () => exportOps().checkPresent(name, key, ctx)),
        remove: (name, key, ctx) => guard('remove export', () => exportOps().remove(name, key, ctx)),
        removeDirectory: (dir, ctx) =>
          guard('remove export directory', () => exportOps().removeDirectory(dir, ctx)),
        rename: (name, key, newName, ctx) =>
          guard('rename export', async () => {
            const ops = exportOps();
            if (!ops.rename) throw new RemoteError('rename is not supported');
            await ops.rename(name, key, newName, ctx);
          }),
      }
    : undefined;

  function exportOps(): ExportBackend {
    const ex = opened().exporter;
    if (!ex) throw new RemoteError('this remote does not support exporttree');
    return ex;
  }

  return {
    listConfigs: (): ConfigDescription[] =>
      Object.entries(def.schema).map(([name, f]) => ({ name, description: f.description })),
    async initRemote(ctx) {
      // Registered already: this is enableremote or autoenable, not a first initremote.
      const shared = await sharedConfig(ctx);
      const { cfg, view } = await config(ctx, 'initremote', shared);
      try {
        await guard('initremote', async () => def.initRemote?.(cfg, ctx));
      } catch (err) {
        if (!shared || !lacksCredentials(err)) throw err;
        await ctx.annex.info(`enabled without checking the server: ${messageOf(err)}`);
      }
      await view?.commit(ctx);
    },
    async prepare(ctx) {
      const { cfg } = await config(ctx, 'prepare');
      backend = await guard('prepare', () => def.open(cfg, ctx));
    },
    store: (key, file, ctx) => transfer('store', { key, direction: 'store' }, ctx, (t) => opened().store(key, file, t)),
    retrieve: (key, file, ctx) => transfer('retrieve', { key, direction: 'retrieve' }, ctx, (t) => opened().retrieve(key, file, t)),
    checkPresent: (key, ctx) => guard('check presence', () => opened().checkPresent(key, ctx)),
    remove: (key, ctx) => guard('remove', () => opened().remove(key, ctx)),
    getCost: async () => def.cost ?? 200,
    getAvailability: async () => def.availability ?? 'GLOBAL',
    whereis: async (key) => opened().whereis?.(key),
    claimUrl: async (url) => opened().claimUrl?.(url) ?? false,
    checkUrl: (url, ctx) =>
      guard('check url', async () => {
        const b = opened();
        if (!b.checkUrl) throw new UnsupportedRequestError('CHECKURL');
        return b.checkUrl(url, ctx);
      }),
    getInfo: async () => opened().info?.() ?? [],
    exportSupported: () => def.exportCapable,
    exporter,
    close: async () => {
      await backend?.close?.();
    },
  };
}
