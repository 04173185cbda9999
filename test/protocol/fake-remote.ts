/**
 * An in-memory SpecialRemote for transcript tests. It never touches the disk:
 * "storing" a key records the path git-annex named (the engine only ever
 * passes names, so that is what the tests need to see). Tests override any
 * operation through `hooks` to make it throw, wait, or query git-annex, and
 * add optional methods (getCost, checkUrl, ...) by assigning them.
 */
import type {
  Availability,
  CheckUrlResult,
  ConfigDescription,
  ExportHandler,
  LocalPath,
  RequestContext,
  SpecialRemote,
} from '../../src/protocol/contract.js';
import { RemoteError } from '../../src/protocol/errors.js';
import type { WireName } from '../../src/protocol/wire.js';

export interface Call {
  op: string;
  args: unknown[];
}

/** Replacements for the core operations; each receives the same arguments. */
export interface Hooks {
  initRemote?: SpecialRemote['initRemote'];
  prepare?: SpecialRemote['prepare'];
  store?: SpecialRemote['store'];
  retrieve?: SpecialRemote['retrieve'];
  checkPresent?: SpecialRemote['checkPresent'];
  remove?: SpecialRemote['remove'];
  exportStore?: ExportHandler['store'];
  exportRemoveDirectory?: ExportHandler['removeDirectory'];
}

export class FakeRemote implements SpecialRemote {
  /** key → the path bytes it was stored from. */
  readonly objects = new Map<string, Buffer>();
  /** export tree: name (latin1 of its bytes) → key. */
  readonly exported = new Map<string, string>();
  readonly calls: Call[] = [];
  readonly hooks: Hooks = {};
  configs: ConfigDescription[] = [{ name: 'bucket', description: 'bucket to use' }];
  closed = 0;

  getCost?: (ctx: RequestContext) => Promise<number>;
  getAvailability?: (ctx: RequestContext) => Promise<Availability>;
  claimUrl?: (url: string, ctx: RequestContext) => Promise<boolean>;
  checkUrl?: (url: string, ctx: RequestContext) => Promise<CheckUrlResult>;
  whereis?: (key: string, ctx: RequestContext) => Promise<string | undefined>;
  getInfo?: (ctx: RequestContext) => Promise<Array<[string, string]>>;
  exportSupported?: () => boolean = () => true;
  exporter?: ExportHandler = this.makeExporter();

  private record(op: string, ...args: unknown[]): void {
    this.calls.push({ op, args });
  }

  /** The arguments of every call of `op`, in order. */
  callsOf(op: string): unknown[][] {
    return this.calls.filter((c) => c.op === op).map((c) => c.args);
  }

  listConfigs(): ConfigDescription[] {
    return this.configs;
  }

  async initRemote(ctx: RequestContext): Promise<void> {
    this.record('initRemote');
    await this.hooks.initRemote?.(ctx);
  }

  async prepare(ctx: RequestContext): Promise<void> {
    this.record('prepare');
    await this.hooks.prepare?.(ctx);
  }

  async store(key: string, file: LocalPath, ctx: RequestContext): Promise<void> {
    this.record('store', key, file);
    if (this.hooks.store) return this.hooks.store(key, file, ctx);
    this.objects.set(key, Buffer.from(file));
  }

  async retrieve(key: string, file: LocalPath, ctx: RequestContext): Promise<void> {
    this.record('retrieve', key, file);
    if (this.hooks.retrieve) return this.hooks.retrieve(key, file, ctx);
    if (!this.objects.has(key)) throw new RemoteError(`${key} is not stored here`);
  }

  async checkPresent(key: string, ctx: RequestContext): Promise<boolean> {
    this.record('checkPresent', key);
    if (this.hooks.checkPresent) return this.hooks.checkPresent(key, ctx);
    return this.objects.has(key);
  }

  async remove(key: string, ctx: RequestContext): Promise<void> {
    this.record('remove', key);
    if (this.hooks.remove) return this.hooks.remove(key, ctx);
    this.objects.delete(key);
  }

  async close(): Promise<void> {
    this.closed++;
  }

  private makeExporter(): ExportHandler {
    const tree = this.exported;
    const id = (n: WireName): string => n.bytes.toString('latin1');
    return {
      store: async (name, key, file, ctx) => {
        this.record('exportStore', name, key, file);
        if (this.hooks.exportStore) return this.hooks.exportStore(name, key, file, ctx);
        tree.set(id(name), key);
      },
      retrieve: async (name, key, file) => {
        this.record('exportRetrieve', name, key, file);
        if (tree.get(id(name)) !== key) throw new RemoteError(`${name.toString()} is not exported`);
      },
      checkPresent: async (name, key) => {
        this.record('exportCheckPresent', name, key);
        return tree.get(id(name)) === key;
      },
      remove: async (name, key) => {
        this.record('exportRemove', name, key);
        tree.delete(id(name));
      },
      removeDirectory: async (dir, ctx) => {
        this.record('exportRemoveDirectory', dir);
        if (this.hooks.exportRemoveDirectory) return this.hooks.exportRemoveDirectory(dir, ctx);
        const prefix = `${id(dir)}/`;
        for (const name of [...tree.keys()]) if (name.startsWith(prefix)) tree.delete(name);
      },
      rename: async (name, key, newName) => {
        this.record('exportRename', name, key, newName);
        if (tree.get(id(name)) !== key) throw new RemoteError(`${name.toString()} is not exported`);
        tree.delete(id(name));
        tree.set(id(newName), key);
      },
    };
  }
}

/** Resolves after `ms`, or rejects as soon as `signal` aborts (like a real transfer). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

/** A promise the test resolves by hand, to hold an operation at a chosen point. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}
