import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSize } from '../../remotes/core/sizes.js';
import { out, parseCommandLine, UsageError, type Command } from '../command.js';

const HELP = `Usage: annexd dev-server osf [--port N] [--latency-ms N] [--dir DIR] [--rate-limit N]
                                [--max-file-size SIZE] [--quota SIZE]
       annexd dev-server s3 [--port N] [--dir DIR]

Runs one of annexd's embedded servers on 127.0.0.1 in the foreground, for
trying remotes without an account; Ctrl-C (or SIGTERM) stops it.

  osf  an OSF-compatible server: the OSF API v2 and WaterButler file
       operations (on a second port, reached through the API's links).
       First line: api=URL token=TOKEN; second line: node=ID, a project
       created at start (POST URL/nodes/ creates more). Use it with
         OSF_TOKEN=TOKEN git annex initremote osf type=external \\
           externaltype=annexd-osf encryption=none api=URL node=ID
  s3   the embedded S3 server (s3rver with SigV4 checks).
       First line: endpoint=URL key_id=ID secret=SECRET

The token and secret are new on every start (the OSF token can be set with
ANNEXD_OSF_TOKEN). Data lives in --dir, else in a temporary directory that is
removed when the server stops.

Options:
  --port N            port to listen on (default: any free port)
  --dir DIR           keep the data in DIR (kept after the server stops)
  --latency-ms N      (osf) added before every answer, to play a distant server
  --rate-limit N      (osf) requests per second per client before answering 429
                      with Retry-After (default: no limit)
  --max-file-size S   (osf) per-file cap, e.g. 10MiB (default 5GB, as OSF)
  --quota S           (osf) bytes per project before uploads get 507 (default: none)
`;

function whole(name: string, v: string | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > max) throw new UsageError(`--${name} must be a whole number up to ${max}, not "${v}"`);
  return Number(v);
}

function bytes(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = parseSize(v);
  if (n === undefined) throw new UsageError(`--${name} must be a size such as 10MiB, not "${v}"`);
  return n;
}

/** Resolves on SIGINT or SIGTERM. */
const untilSignal = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });

export const devServerCommand: Command = {
  name: 'dev-server',
  summary: 'run an embedded OSF-compatible or S3 server on 127.0.0.1 in the foreground',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandLine(args, {
      port: { type: 'string' },
      dir: { type: 'string' },
      'latency-ms': { type: 'string' },
      'rate-limit': { type: 'string' },
      'max-file-size': { type: 'string' },
      quota: { type: 'string' },
    });
    const [kind, ...extra] = positionals;
    if (kind !== 'osf' && kind !== 's3') throw new UsageError(kind === undefined ? 'which server? annexd dev-server osf|s3' : `unknown server "${kind}" (servers: osf, s3)`);
    if (extra.length) throw new UsageError(`dev-server takes one server name (not "${extra[0]}")`);
    const port = whole('port', values.port, 65535) ?? 0;
    const osfOnly = ['latency-ms', 'rate-limit', 'max-file-size', 'quota'] as const;
    if (kind === 's3') for (const o of osfOnly) if (values[o] !== undefined) throw new UsageError(`--${o} is for the osf server only`);
    const latencyMs = whole('latency-ms', values['latency-ms'], 60_000);
    const rateLimit = whole('rate-limit', values['rate-limit'], 1_000_000);
    const maxFileSize = bytes('max-file-size', values['max-file-size']);
    const quota = bytes('quota', values.quota);
    const scratch = values.dir === undefined ? await mkdtemp(join(tmpdir(), `annexd-${kind}-`)) : undefined;
    const dir = values.dir ?? scratch!;
    const signal = untilSignal();
    let close: () => Promise<void>;
    try {
      if (kind === 'osf') {
        const { startOsfServer } = await import('../../demo/osf-server.js');
        const server = await startOsfServer({ directory: dir, port, latencyMs, rateLimit, maxFileSize, quota, token: process.env.ANNEXD_OSF_TOKEN || undefined });
        close = server.close;
        out(`api=${server.api} token=${server.token}`);
        const res = await fetch(`${server.api}nodes/`, {
          method: 'POST',
          headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/vnd.api+json' },
          body: JSON.stringify({ data: { type: 'nodes', attributes: { title: 'annexd dev project', category: 'project' } } }),
        });
        const node = ((await res.json()) as { data: { id: string } }).data.id;
        out(`node=${node} (data in ${dir}${scratch ? ', removed at exit' : ''}; Ctrl-C stops)`);
      } else {
        process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
        const { startEmbeddedS3 } = await import('../../demo/s3-server.js');
        const server = await startEmbeddedS3({ directory: dir, port });
        close = server.close;
        out(`endpoint=${server.endpoint} key_id=${server.accessKeyId} secret=${server.secretAccessKey}`);
        out(`(data in ${dir}${scratch ? ', removed at exit' : ''}; Ctrl-C stops)`);
      }
    } catch (err) {
      if (scratch) await rm(scratch, { recursive: true, force: true });
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'EADDRINUSE') throw new UsageError(`port ${port} is in use: pick another with --port, or leave it out for any free port`);
      throw err;
    }
    const sig = await signal;
    await close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
    return sig === 'SIGINT' ? 130 : 0;
  },
};
