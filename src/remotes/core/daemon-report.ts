/**
 * Transfers reported to a running annexd daemon, so that a `git annex copy`
 * or `git annex get` run by hand shows live on its status page. Best effort,
 * and never in git-annex's way:
 *
 * - The daemon is found without any network: a Unix socket in its state
 *   directory (mode 0700, so only this user reaches it), owned by us.
 *   Looked for on the first transfer, in the background; when there is
 *   none (or it refuses), nothing is written anywhere, and it is looked
 *   for again at most every RETRY_MS.
 * - Nothing on the transfer path waits for the socket: a line is written
 *   only when few bytes are still queued in it (a stopped daemon fills the
 *   kernel's buffer, then lines are dropped), so memory stays bounded and
 *   the transfer runs at its own pace.
 * - At most one update per INTERVAL_MS per transfer, plus its start (sent
 *   on connecting when it came before) and its end.
 * - Lines hold the pid, the repository's top directory, the git remote's
 *   name, the key, the direction and bytes: no URL, no config value.
 */
import { realpath, stat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { NO_REPORT_ENV, progressSocket, stateDir } from '../../util/state-dir.js';
import { keySize } from './keys.js';

export type Direction = 'store' | 'retrieve';
export type TransferState = 'running' | 'finished' | 'failed';

/** One line on the socket (newline-delimited JSON). The daemon validates every field. */
export interface TransferLine {
  v: 1;
  pid: number;
  /** Per process: tells this process's transfers apart. */
  id: number;
  repo?: string;
  remote?: string;
  key: string;
  /** The export name, for exporttree remotes. */
  file?: string;
  direction: Direction;
  bytes: number;
  size?: number;
  state: TransferState;
}

const INTERVAL_MS = 250;
const RETRY_MS = 5000;
/** Bytes queued in the socket beyond which lines are dropped (an end line gets twice that). */
const MAX_QUEUED = 16 * 1024;

/** This process's repository top directory, from what git-annex set (cwd, GIT_WORK_TREE, GIT_DIR). */
async function repositoryTop(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const cwd = process.cwd();
  const isDir = (p: string): Promise<boolean> => stat(p).then((s) => s.isDirectory(), () => false);
  // git-annex runs remotes in the work tree with GIT_WORK_TREE relative to it (and, with
  // --work-tree, as the user spelled it, which may not resolve from there: then GIT_DIR tells).
  if (env.GIT_WORK_TREE && (await isDir(resolve(cwd, env.GIT_WORK_TREE)))) return realpath(resolve(cwd, env.GIT_WORK_TREE));
  if (env.GIT_DIR) {
    const gitDir = resolve(cwd, env.GIT_DIR);
    return realpath(basename(gitDir) === '.git' ? dirname(gitDir) : gitDir);
  }
  for (let d = cwd; ; d = dirname(d)) {
    if (await stat(join(d, '.git')).then(() => true, () => false)) return d;
    if (dirname(d) === d) return cwd;
  }
}

/** The process's one connection to the daemon, shared by its transfers. */
class DaemonLink {
  private socket: Socket | undefined;
  private open = false;
  private connecting = false;
  private retryAt = 0;
  private repo: string | undefined;
  private nextId = 0;
  readonly active = new Set<TransferReport>();

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  get state(): { open: boolean; queued: number } {
    return { open: this.open, queued: this.socket?.writableLength ?? 0 };
  }

  get enabled(): boolean {
    return !this.env[NO_REPORT_ENV];
  }

  newId(): number {
    return ++this.nextId;
  }

  /** Writes the line when connected and the socket keeps up; else drops it (and looks for a daemon, now and then). */
  send(line: Omit<TransferLine, 'v' | 'pid' | 'repo'>, end = false): boolean {
    const socket = this.socket;
    if (!this.open || !socket) {
      this.reach();
      return false;
    }
    if (socket.writableLength > (end ? 2 * MAX_QUEUED : MAX_QUEUED)) return false;
    const full: TransferLine = { v: 1, pid: process.pid, ...(this.repo ? { repo: this.repo } : {}), ...line };
    socket.write(`${JSON.stringify(full)}\n`);
    return true;
  }

  private reach(): void {
    if (this.connecting || this.open || Date.now() < this.retryAt) return;
    this.connecting = true;
    void this.connect().catch(() => this.down());
  }

  private down(): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.open = false;
    this.connecting = false;
    this.retryAt = Date.now() + RETRY_MS;
  }

  private async connect(): Promise<void> {
    const path = progressSocket(stateDir(this.env));
    const st = await stat(path);
    // Only a socket of our own: a file planted in a shared directory must not receive our reports.
    if (!st.isSocket() || (process.getuid && st.uid !== process.getuid())) throw new Error('not our socket');
    this.repo ??= await repositoryTop(this.env).catch(() => undefined);
    const socket = connect(path);
    this.socket = socket;
    // Never keeps the remote alive, never crashes it (EPIPE when the daemon goes away).
    socket.unref();
    const gone = (): void => {
      if (this.socket === socket) this.down();
    };
    socket.on('error', gone);
    socket.on('close', gone);
    socket.on('data', () => undefined);
    socket.once('connect', () => {
      this.open = true;
      this.connecting = false;
      // What started before the daemon was reached (or while it was away) is told now.
      for (const t of this.active) t.resend();
    });
  }
}

let shared: DaemonLink | undefined;
const link = (): DaemonLink => (shared ??= new DaemonLink(process.env));

/** One transfer as the daemon hears of it. */
export class TransferReport {
  private readonly id: number;
  private bytesNow = 0;
  private lastAt = 0;
  private state: TransferState = 'running';
  private trailing: NodeJS.Timeout | undefined;
  remote: string | undefined;

  constructor(
    private readonly link: DaemonLink,
    private readonly key: string,
    private readonly direction: Direction,
    private readonly file?: string,
  ) {
    this.id = link.newId();
    link.active.add(this);
    this.resend();
  }

  /** Bytes done so far (cheap: called for every chunk). */
  bytes(n: number): void {
    this.bytesNow = n;
    if (this.trailing) return;
    const wait = this.lastAt + INTERVAL_MS - Date.now();
    if (wait <= 0) return this.resend();
    // The last figure of a burst goes out too (a file read into the socket's buffers at once, then a long wait).
    this.trailing = setTimeout(() => {
      this.trailing = undefined;
      this.resend();
    }, wait);
    this.trailing.unref();
  }

  end(ok: boolean): void {
    clearTimeout(this.trailing);
    this.state = ok ? 'finished' : 'failed';
    this.link.active.delete(this);
    this.link.send(this.line(), true);
  }

  resend(): void {
    this.lastAt = Date.now();
    this.link.send(this.line());
  }

  private line(): Omit<TransferLine, 'v' | 'pid' | 'repo'> {
    const size = keySize(this.key);
    return {
      id: this.id,
      ...(this.remote ? { remote: this.remote } : {}),
      key: this.key,
      ...(this.file !== undefined ? { file: this.file } : {}),
      direction: this.direction,
      bytes: this.bytesNow,
      ...(size !== undefined ? { size } : {}),
      state: this.state,
    };
  }
}

/** Whether this process is connected to a daemon, and the bytes queued for it (for tests and diagnostics). */
export const linkState = (): { open: boolean; queued: number } => link().state;

/** Starts reporting a transfer; undefined when reporting is off (in the daemon's own pushes, which it follows itself). */
export function reportTransfer(key: string, direction: Direction, file?: string): TransferReport | undefined {
  const l = link();
  return l.enabled ? new TransferReport(l, key, direction, file) : undefined;
}
