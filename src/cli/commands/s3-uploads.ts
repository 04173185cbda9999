import { findLocalRemote, localContext } from '../../remotes/core/local-context.js';
import { formatSize } from '../../remotes/core/sizes.js';
import {
  abortAbandoned,
  DEFAULT_ABANDONED_AFTER_MS,
  openS3Remote,
  surveyUploads,
  type UnfinishedUpload,
} from '../../remotes/s3/abandoned-uploads.js';
import { describeEndpoint } from '../../remotes/s3/config.js';
import { RemoteError } from '../../protocol/errors.js';
import { out, parseCommandLine, UsageError, type Command } from '../command.js';

const HELP = `Usage: annexd s3-uploads REMOTE [--abort] [--older-than AGE] [--json]

Lists the unfinished multipart uploads under the prefix of the annexd-s3
remote REMOTE, and with --abort removes the abandoned ones. Such uploads are
left when an upload is killed (SIGKILL, a crash, power loss) or when the
server lacked AbortMultipartUpload at the time: their parts cost storage but
are never objects, and nothing else removes them unless the bucket has a
lifecycle rule (AbortIncompleteMultipartUpload).

An upload is abandoned once it has been idle for longer than AGE: no part has
arrived for that long (ListParts), or, when the server does not list parts,
it started that long ago. Uploads still in progress are therefore kept.
Nothing is removed without --abort, and cleanup runs only when you run this.

Run it inside the git-annex repository that has the remote: it reads the
remote's settings from the git-annex branch (remote.log) and finds credentials
as the remote does (AWS_* variables, credential=NAME, the pair remembered at
initremote, git credential helpers, an AWS profile). Without a prefix= the
whole bucket is listed, uploads of anything else in it included.

Options:
  --abort           abort the abandoned uploads (default: only list them)
  --older-than AGE  idle time after which an upload is abandoned: a number and
                    a unit, s, m, h, d or w, e.g. 30m, 12h, 2d (default 24h)
  --json            print one JSON object on stdout

A server without ListMultipartUploads or AbortMultipartUpload (e.g. plain
s3rver, which answers NotImplemented / 405) is reported once, and the command
fails.

Exit codes: 0 done (nothing found counts as done), 1 failed, 2 usage error.
With --json, a failure also prints {"error": MESSAGE, "exitCode": N} on stdout.
`;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "90s", "30m", "12h", "2d", "1w" → milliseconds. */
export function parseAge(text: string): number {
  const m = /^(\d+)([smhdw])$/.exec(text.trim());
  if (!m) throw new UsageError(`--older-than takes a number and a unit (s, m, h, d, w), e.g. 24h or 2d, not "${text}"`);
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/** "3d 4h", "2d", "5h 2m", "12m", "40s": the largest unit and the next, a zero second one left out. */
function formatAge(ms: number | undefined): string {
  if (ms === undefined) return '?';
  const units = [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const;
  const seconds = Math.floor(ms / 1000);
  const first = units.findIndex(([, size]) => seconds >= size);
  if (first === -1) return '0s';
  const [unit, size] = units[first] as (typeof units)[number];
  const next = units[first + 1];
  const rest = next ? Math.floor((seconds % size) / next[1]) : 0;
  return `${Math.floor(seconds / size)}${unit}${next && rest ? ` ${rest}${next[0]}` : ''}`;
}

type Outcome = 'aborted' | 'gone' | undefined;

function uploadJson(u: UnfinishedUpload, outcome: Outcome): Record<string, unknown> {
  return {
    key: u.key,
    uploadId: u.uploadId,
    initiated: u.initiated?.toISOString() ?? null,
    lastActivity: u.lastActivity?.toISOString() ?? null,
    idleSeconds: u.idleMs === undefined ? null : Math.floor(u.idleMs / 1000),
    parts: u.parts ?? null,
    bytes: u.bytes ?? null,
    abandoned: u.abandoned,
    action: outcome ?? 'none',
  };
}

export const s3UploadsCommand: Command = {
  name: 's3-uploads',
  summary: 'list (and with --abort remove) abandoned multipart uploads of an annexd-s3 remote',
  help: HELP,
  async run(args) {
    const parsed = parseCommandLine(args, {
      abort: { type: 'boolean', default: false },
      'older-than': { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    const { values, positionals } = parsed;
    const [name, ...extra] = positionals;
    if (!name) throw new UsageError('s3-uploads needs the name of an annexd-s3 remote, e.g. annexd s3-uploads mys3');
    if (extra.length) throw new UsageError('s3-uploads takes one REMOTE');
    const olderThanMs = values['older-than'] === undefined ? DEFAULT_ABANDONED_AFTER_MS : parseAge(values['older-than']);
    const json = values.json;
    const say = (line: string): void => void process.stderr.write(`annexd: ${line}\n`);

    const remote = await findLocalRemote(name);
    const { type, externaltype } = remote.config;
    if (type !== 'external' || externaltype !== 'annexd-s3') {
      const what = type === 'external' ? `externaltype=${externaltype ?? '(none)'}` : `type=${type ?? '(none)'}`;
      throw new RemoteError(`remote "${name}" is not an annexd-s3 remote (${what}): s3-uploads works on remotes made with externaltype=annexd-s3`);
    }
    // Ctrl-C simply ends the process: listing changes nothing, and each abort is complete or not sent.
    const ctx = localContext(remote, { info: say, debug: process.env.ANNEXD_DEBUG ? say : undefined });
    const { settings, store } = await openS3Remote(ctx);
    try {
      const uploads = await surveyUploads(store, ctx, { olderThanMs });
      const outcomes = new Map<string, Outcome>();
      if (values.abort) {
        for (const u of uploads.filter((x) => x.abandoned)) outcomes.set(u.uploadId, await abortAbandoned(store, u, ctx));
      }
      const where = `bucket "${settings.bucket}" at ${describeEndpoint(settings)}`;
      if (json) {
        out(
          JSON.stringify({
            remote: name,
            bucket: settings.bucket,
            endpoint: describeEndpoint(settings),
            prefix: settings.prefix,
            olderThanSeconds: Math.floor(olderThanMs / 1000),
            abort: values.abort,
            uploads: uploads.map((u) => uploadJson(u, outcomes.get(u.uploadId))),
          }),
        );
        return 0;
      }
      const scope = settings.prefix ? `under prefix "${settings.prefix}"` : '(no prefix: the whole bucket)';
      if (!uploads.length) {
        out(`no unfinished multipart uploads in ${where} ${scope}`);
        return 0;
      }
      const age = formatAge(olderThanMs);
      out(`${uploads.length} unfinished multipart upload${uploads.length === 1 ? '' : 's'} in ${where} ${scope}:`);
      const rows = uploads.map((u) => [
        u.initiated?.toISOString().replace(/\.\d+Z$/, 'Z') ?? '?',
        formatAge(u.idleMs),
        u.parts === undefined ? '?' : `${u.parts} (${formatSize(u.bytes ?? 0)})`,
        outcomes.get(u.uploadId) ?? (u.abandoned ? 'abandoned' : 'active'),
        u.key,
      ]);
      const header = ['INITIATED', 'IDLE', 'PARTS', 'STATE', 'KEY'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
      for (const r of [header, ...rows]) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  '));
      const abandoned = uploads.filter((u) => u.abandoned);
      const young = uploads.length - abandoned.length;
      const total = formatSize(abandoned.reduce((n, u) => n + (u.bytes ?? 0), 0));
      // Without ListParts the sizes are unknown: say so rather than "0 B".
      const bytes = abandoned.every((u) => u.bytes !== undefined) ? total : abandoned.some((u) => u.bytes !== undefined) ? `at least ${total}` : 'size unknown';
      if (values.abort) {
        const aborted = [...outcomes.values()].filter((o) => o === 'aborted').length;
        out(`aborted ${aborted} abandoned upload${aborted === 1 ? '' : 's'} (${bytes})${young ? `; kept ${young} active in the last ${age}` : ''}`);
      } else if (abandoned.length) {
        out(`${abandoned.length} idle for more than ${age} (${bytes}): remove ${abandoned.length === 1 ? 'it' : 'them'} with annexd s3-uploads ${name} --abort`);
      } else {
        out(`none idle for more than ${age}: nothing to abort`);
      }
      return 0;
    } finally {
      store.close();
    }
  },
};
