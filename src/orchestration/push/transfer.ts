/**
 * Content to one sibling through git-annex itself: `git annex copy --batch -z
 * --json --json-progress` with the files on stdin (as DataLad's push runs it),
 * `--batch-keys` for files whose saved state differs from the work tree, or
 * `git annex export HEAD` for an export remote. Each JSON result becomes a
 * DataLad copy record (results.py annexjson2result); progress lines are summed.
 */
import { join } from 'node:path';
import { firstErrorLine, gitLines } from '../git.js';
import type { PushEvent, PushRecord } from './types.js';

export interface AnnexedFile {
  /** Relative to the dataset, as git-annex prints it. */
  file: string;
  key: string;
  bytes: number;
}

export interface TransferSpec {
  ds: string;
  refds: string;
  target: string;
  mode: 'copy' | 'export';
  /** Clean files: copied by name, so git-annex's --auto sees their names. */
  files: AnnexedFile[];
  /** Files with unsaved changes: their committed keys are copied by key. */
  byKey: AnnexedFile[];
  auto: boolean;
  fast: boolean;
  jobs?: number;
  signal?: AbortSignal;
}

interface AnnexJson {
  command?: string;
  success?: boolean;
  file?: string | null;
  key?: string;
  note?: string;
  'error-messages'?: string[];
  'byte-progress'?: number;
  'total-size'?: number;
  action?: { file?: string | null; key?: string };
}

const TRANSLATE_NOTES: Record<string, string> = {
  '(Use --force to override this check, or adjust numcopies.)': 'configured minimum number of copies not found',
};

/** DataLad's record for one git-annex JSON result. */
export function annexResult(j: AnnexJson, base: { ds: string; refds: string; target: string; path?: string }): PushRecord {
  const record: PushRecord = {
    action: 'copy',
    status: j.success === true ? 'ok' : 'error',
    path: j.file ? join(base.ds, j.file) : (base.path ?? base.ds),
    type: 'file',
    refds: base.refds,
    target: base.target,
  };
  if (j.key) record.annexkey = j.key;
  const errors = (j['error-messages'] ?? []).map((m) => m.trim()).filter(Boolean);
  if (errors.length) record.error_message = errors.join('\n');
  else if (j.note) {
    const note = j.note
      .split('\n')
      .filter((l) => l && l !== 'checksum...' && !l.startsWith('checking file'))
      .join('; ');
    if (note) record.message = TRANSLATE_NOTES[note] ?? note;
  }
  return record;
}

/** Runs the transfers of one sibling; returns whether every result was ok. */
export async function transfer(spec: TransferSpec, emit: (e: PushEvent) => void): Promise<boolean> {
  const all = [...spec.files, ...spec.byKey];
  const byKey = new Map(spec.byKey.map((f) => [f.key, f]));
  const byFile = new Map(spec.files.map((f) => [f.file, f]));
  const progress = {
    dataset: spec.ds,
    target: spec.target,
    filesDone: 0,
    filesTotal: all.length,
    bytesDone: 0,
    bytesTotal: all.reduce((n, f) => n + f.bytes, 0),
  };
  // Bytes of transfers under way (several with -J), by file or key.
  const partial = new Map<string, number>();
  let lastEmit = 0;
  const report = (force: boolean, file?: string): void => {
    const now = Date.now();
    if (!force && now - lastEmit < 100) return;
    lastEmit = now;
    let inflight = 0;
    for (const b of partial.values()) inflight += b;
    emit({ kind: 'progress', progress: { ...progress, bytesDone: progress.bytesDone + inflight, ...(file ? { file } : {}) } });
  };
  let ok = true;
  const onLine = (line: string): void => {
    let j: AnnexJson;
    try {
      j = JSON.parse(line) as AnnexJson;
    } catch {
      return; // not JSON (a stray message): git-annex's own result lines are
    }
    if (j['byte-progress'] !== undefined && j.action) {
      const id = j.action.file ?? j.action.key ?? '';
      partial.set(id, j['byte-progress']);
      report(false, j.action.file ?? byKey.get(j.action.key ?? '')?.file);
      return;
    }
    if (j.success === undefined) return;
    partial.delete(j.file ?? j.key ?? '');
    const known = j.file ? undefined : byKey.get(j.key ?? '');
    const record = annexResult(known ? { ...j, file: known.file } : j, spec);
    if (record.status !== 'ok') ok = false;
    progress.filesDone += 1;
    progress.bytesDone += (known ?? byFile.get(j.file ?? ''))?.bytes ?? 0;
    emit({ kind: 'record', record });
    report(true);
  };
  const common = ['--json', '--json-progress', '--json-error-messages', ...(spec.jobs ? [`-J${spec.jobs}`] : [])];
  const runs: Array<{ args: string[]; input: string; what: string }> = [];
  if (spec.mode === 'export') {
    runs.push({ args: ['annex', 'export', 'HEAD', '--to', spec.target, ...common], input: '', what: 'export' });
  } else {
    const flags = ['--to', spec.target, ...(spec.auto ? ['--auto'] : []), ...(spec.fast ? ['--fast'] : []), ...common];
    if (spec.files.length) {
      runs.push({ args: ['annex', 'copy', '--batch', '-z', ...flags], input: spec.files.map((f) => `${f.file}\0`).join(''), what: 'copy' });
    }
    if (spec.byKey.length) {
      // --auto decides by file name, which a key has not: saved-but-changed files go as keys without it.
      const keyFlags = flags.filter((f) => f !== '--auto');
      runs.push({ args: ['annex', 'copy', '--batch-keys', ...keyFlags], input: spec.byKey.map((f) => `${f.key}\n`).join(''), what: 'copy' });
    }
  }
  report(true);
  // One run after the other: each already runs -J jobs, and git-annex locks its branch.
  for (const run of runs) {
    const r = await gitLines(spec.ds, run.args, { input: run.input, signal: spec.signal, onLine });
    if (r.code !== 0 && ok) {
      // Failed without a failed result line (e.g. the remote could not be set up): one record says why.
      ok = false;
      emit({
        kind: 'record',
        record: {
          action: 'copy',
          status: 'error',
          path: spec.ds,
          type: 'dataset',
          refds: spec.refds,
          target: spec.target,
          message: `git annex ${run.what} --to ${spec.target} failed: ${firstErrorLine({ code: r.code, stdout: '', stderr: r.stderr })}`,
        },
      });
    }
  }
  return ok;
}
