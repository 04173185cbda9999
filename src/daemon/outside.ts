/**
 * Transfers outside the daemon: what remote processes of a `git annex copy`
 * or `get` run by hand report through the daemon's Unix socket
 * (progress.sock in the state directory; the writer is
 * remotes/core/daemon-report). One JSON object a line. Anything may connect
 * that this user runs, so every line is checked and bounded: an overlong
 * line, junk or a field of the wrong shape is skipped, and the number of
 * connections and transfers held is capped.
 *
 * A transfer is dropped when it reports its end, when its process's
 * connection closes (the process is gone), or after SILENT_MS without news.
 */
import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { errCode, errText } from '../util/file-lock.js';

export interface OutsideTransfer {
  /** Assigned by the daemon (connection and the process's own number): unique while it runs. */
  id: string;
  pid: number;
  /** The repository's top directory, as the remote process found it. */
  repo?: string;
  /** The git remote's name. */
  remote?: string;
  key: string;
  /** The export name (exporttree remotes). */
  file?: string;
  direction: 'store' | 'retrieve';
  bytes: number;
  /** From the key, when it records one. */
  size?: number;
  /** 'gone': the process ended (or fell silent) without reporting the end. */
  state: 'running' | 'finished' | 'failed' | 'gone';
  startedAt: string;
  updatedAt: string;
}

const MAX_LINE = 4096;
const MAX_CONNECTIONS = 256;
const MAX_TRANSFERS = 512;
const MAX_PER_CONNECTION = 64;
const SILENT_MS = 120_000;
/** Updates of one transfer go out at most this often (its start and end always). */
const EVENT_INTERVAL_MS = 200;
/** Linux's sun_path holds 108 bytes with the final NUL; a longer path would be cut short silently. */
const MAX_SOCKET_PATH = 107;

const CONTROL = /[\u0000-\u001f\u007f]/;
const text = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max && !CONTROL.test(v);
const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

type Report = Omit<OutsideTransfer, 'id' | 'startedAt' | 'updatedAt' | 'state'> & { n: number; state: 'running' | 'finished' | 'failed' };

/** A reported line as the daemon takes it; undefined for anything else. */
export function parseReport(line: string): Report | undefined {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return undefined;
  const r = o as Record<string, unknown>;
  if (r.v !== 1 || !count(r.pid) || r.pid === 0 || !count(r.id) || !text(r.key, 1024) || !count(r.bytes)) return undefined;
  if (r.direction !== 'store' && r.direction !== 'retrieve') return undefined;
  if (r.state !== 'running' && r.state !== 'finished' && r.state !== 'failed') return undefined;
  if (r.repo !== undefined && !(text(r.repo, 4096) && r.repo.startsWith('/'))) return undefined;
  if (r.remote !== undefined && !text(r.remote, 256)) return undefined;
  if (r.file !== undefined && !text(r.file, 4096)) return undefined;
  if (r.size !== undefined && !count(r.size)) return undefined;
  return {
    n: r.id,
    pid: r.pid,
    ...(r.repo !== undefined ? { repo: r.repo } : {}),
    ...(r.remote !== undefined ? { remote: r.remote } : {}),
    key: r.key,
    ...(r.file !== undefined ? { file: r.file } : {}),
    direction: r.direction,
    bytes: r.bytes,
    ...(r.size !== undefined ? { size: r.size } : {}),
    state: r.state,
  };
}

interface Held {
  t: OutsideTransfer;
  conn: number;
  seen: number;
  emitted: number;
}

export class OutsideTransfers {
  private server: Server | undefined;
  private path: string | undefined;
  private readonly held = new Map<string, Held>();
  private readonly sockets = new Set<Socket>();
  private conns = 0;
  private sweep: NodeJS.Timeout | undefined;

  constructor(private readonly onChange: (t: OutsideTransfer) => void) {}

  /**
   * Listens on `path`. A socket file left by a dead daemon is removed first
   * (the caller holds the one-daemon lock). Returns a problem to show when
   * it cannot listen: the daemon runs on without these reports.
   */
  async listen(path: string): Promise<string | undefined> {
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      return `transfers outside the daemon are not shown: the socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes (choose a shorter ANNEXD_STATE_DIR)`;
    }
    const server = createServer((s) => this.accept(s));
    try {
      await unlink(path).catch((err: unknown) => {
        if (errCode(err) !== 'ENOENT') throw err;
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => resolve());
      });
    } catch (err) {
      return `transfers outside the daemon are not shown: cannot listen on ${path}: ${errText(err)}`;
    }
    server.on('error', () => undefined);
    // The state directory is 0700 already; the socket itself is ours alone too.
    await chmod(path, 0o600).catch(() => undefined);
    this.server = server;
    this.path = path;
    this.sweep = setInterval(() => this.expire(), 5000).unref();
    return undefined;
  }

  list(): OutsideTransfer[] {
    return [...this.held.values()].map((h) => h.t);
  }

  private accept(socket: Socket): void {
    if (this.sockets.size >= MAX_CONNECTIONS) {
      socket.destroy();
      return;
    }
    const conn = ++this.conns;
    this.sockets.add(socket);
    let buf = '';
    // Set while the rest of an overlong line is thrown away.
    let skipping = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      let start = 0;
      for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
        const piece = chunk.slice(start, nl);
        start = nl + 1;
        if (!skipping && buf.length + piece.length <= MAX_LINE) this.take(conn, buf + piece);
        buf = '';
        skipping = false;
      }
      if (skipping) return;
      buf += chunk.slice(start);
      if (buf.length > MAX_LINE) {
        buf = '';
        skipping = true;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.sockets.delete(socket);
      for (const [k, h] of this.held) if (h.conn === conn) this.drop(k, h, 'gone');
    });
  }

  private take(conn: number, line: string): void {
    const r = parseReport(line);
    if (!r) return;
    const k = `${conn}-${r.n}`;
    const now = Date.now();
    const at = new Date(now).toISOString();
    let h = this.held.get(k);
    if (!h) {
      // Full: the oldest news goes (most likely a transfer whose end line was dropped).
      let mine = 0;
      for (const x of this.held.values()) if (x.conn === conn) mine++;
      if (mine >= MAX_PER_CONNECTION) this.dropOldest((x) => x.conn === conn);
      if (this.held.size >= MAX_TRANSFERS) this.dropOldest(() => true);
      const { n: _n, ...fields } = r;
      h = { t: { ...fields, id: k, startedAt: at, updatedAt: at }, conn, seen: now, emitted: 0 };
      this.held.set(k, h);
    } else {
      const { n: _n, ...fields } = r;
      h.t = { ...h.t, ...fields, updatedAt: at };
      h.seen = now;
    }
    if (r.state !== 'running') return this.drop(k, h, r.state);
    if (now - h.emitted >= EVENT_INTERVAL_MS) {
      h.emitted = now;
      this.onChange(h.t);
    }
  }

  private drop(k: string, h: Held, state: OutsideTransfer['state']): void {
    this.held.delete(k);
    this.onChange({ ...h.t, state });
  }

  private dropOldest(which: (h: Held) => boolean): void {
    let oldest: [string, Held] | undefined;
    for (const e of this.held) if (which(e[1]) && (!oldest || e[1].seen < oldest[1].seen)) oldest = e;
    if (oldest) this.drop(oldest[0], oldest[1], 'gone');
  }

  private expire(): void {
    const old = Date.now() - SILENT_MS;
    for (const [k, h] of this.held) if (h.seen < old) this.drop(k, h, 'gone');
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
    if (this.path) await unlink(this.path).catch(() => undefined);
  }
}
