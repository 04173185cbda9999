/**
 * The one contract between the protocol engine and whatever implements a
 * special remote. The engine knows nothing about S3 or WebDAV: it parses
 * requests, calls these methods, and turns results and thrown errors into
 * replies.
 */
import type { WireName } from './wire.js';

/** Queries and messages a remote may send to git-annex while handling a request. */
export interface AnnexApi {
  /** GETCONFIG: '' when unset. */
  getConfig(name: string): Promise<string>;
  /** SETCONFIG: persisted only when sent during INITREMOTE. */
  setConfig(name: string, value: string): Promise<void>;
  /** GETCREDS: undefined when git-annex has none stored. */
  getCreds(setting: string): Promise<{ user: string; password: string } | undefined>;
  /** SETCREDS: git-annex caches these locally (and embeds them only with embedcreds=yes). */
  setCreds(setting: string, user: string, password: string): Promise<void>;
  getUUID(): Promise<string>;
  /** GETGITDIR: may be relative to the current directory; kept as bytes. */
  getGitDir(): Promise<Buffer>;
  /** GETGITREMOTENAME: undefined when git-annex cannot tell (extension missing, or during INITREMOTE on old versions). */
  getGitRemoteName(): Promise<string | undefined>;
  /** DIRHASH: e.g. "aB/Cd/" (with trailing slash). */
  dirhash(key: string): Promise<string>;
  /** DIRHASH-LOWER: e.g. "381/82d/". */
  dirhashLower(key: string): Promise<string>;
  getState(key: string): Promise<string>;
  setState(key: string, value: string): Promise<void>;
  getWanted(): Promise<string>;
  setWanted(expression: string): Promise<void>;
  setUrlPresent(key: string, url: string): Promise<void>;
  setUrlMissing(key: string, url: string): Promise<void>;
  setUriPresent(key: string, uri: string): Promise<void>;
  setUriMissing(key: string, uri: string): Promise<void>;
  /** GETURLS: every recorded URL of the key starting with prefix ('' for all). */
  getUrls(key: string, prefix: string): Promise<string[]>;
  /** PROGRESS, in absolute bytes. Callers normally use a throttled reporter instead. */
  progress(bytes: number): Promise<void>;
  /** Shown with --debug only. Secrets are redacted. */
  debug(message: string): Promise<void>;
  /** Shown to the user (falls back to DEBUG when INFO was not negotiated). Secrets are redacted. */
  info(message: string): Promise<void>;
}

/** What every handler receives. */
export interface RequestContext {
  readonly annex: AnnexApi;
  /** Aborted when git-annex goes away; long transfers must stop promptly. */
  readonly signal: AbortSignal;
}

/** A local file named by git-annex, exactly as sent (fs accepts Buffer paths). */
export type LocalPath = Buffer;

export interface ConfigDescription {
  /** One word, e.g. "bucket". */
  name: string;
  description: string;
}

export type CheckUrlResult =
  | { kind: 'contents'; size?: number; filename?: string }
  | { kind: 'multi'; entries: Array<{ url: string; size?: number; filename: string }> };

export type Availability = 'GLOBAL' | 'LOCAL';

/**
 * Operations on an export tree (exporttree=yes). `name` is the path in the tree.
 * `T` is the context transfers get (a layer above may add e.g. progress to it).
 */
export interface ExportHandler<T extends RequestContext = RequestContext> {
  store(name: WireName, key: string, file: LocalPath, ctx: T): Promise<void>;
  retrieve(name: WireName, key: string, file: LocalPath, ctx: T): Promise<void>;
  checkPresent(name: WireName, key: string, ctx: RequestContext): Promise<boolean>;
  remove(name: WireName, key: string, ctx: RequestContext): Promise<void>;
  /** Must succeed when the directory is already gone. */
  removeDirectory(directory: WireName, ctx: RequestContext): Promise<void>;
  /** Optional: without it git-annex falls back to remove + store. */
  rename?(name: WireName, key: string, newName: WireName, ctx: RequestContext): Promise<void>;
}

/**
 * A special remote as the engine sees it. Required methods are the core of the
 * protocol; optional ones answer UNSUPPORTED-REQUEST (and git-annex's default)
 * when absent. Throwing from checkPresent means "cannot tell" (UNKNOWN).
 */
export interface SpecialRemote {
  /** LISTCONFIGS. Any parameter not listed is refused by initremote. */
  listConfigs(): ConfigDescription[];
  initRemote(ctx: RequestContext): Promise<void>;
  prepare(ctx: RequestContext): Promise<void>;
  store(key: string, file: LocalPath, ctx: RequestContext): Promise<void>;
  retrieve(key: string, file: LocalPath, ctx: RequestContext): Promise<void>;
  checkPresent(key: string, ctx: RequestContext): Promise<boolean>;
  remove(key: string, ctx: RequestContext): Promise<void>;
  getCost?(ctx: RequestContext): Promise<number>;
  getAvailability?(ctx: RequestContext): Promise<Availability>;
  claimUrl?(url: string, ctx: RequestContext): Promise<boolean>;
  checkUrl?(url: string, ctx: RequestContext): Promise<CheckUrlResult>;
  /** WHEREIS: must not touch the network; undefined → WHEREIS-FAILURE. */
  whereis?(key: string, ctx: RequestContext): Promise<string | undefined>;
  /** GETINFO: ordered name/value pairs shown by `git annex info`. */
  getInfo?(ctx: RequestContext): Promise<Array<[string, string]>>;
  /** EXPORTSUPPORTED: asked before PREPARE; must not contact the network. */
  exportSupported?(): boolean;
  readonly exporter?: ExportHandler;
  /** Called once when git-annex closes the connection, so in-flight work can be cleaned up. */
  close?(): Promise<void>;
}
