/**
 * Content to one sibling through git-annex itself: `git annex copy --batch -z
 * --json --json-progress` with the files on stdin (as DataLad's push runs it,
 * but -J N as N processes fed from one queue),
 * `--batch-keys` for files whose saved state differs from the work tree, or
 * `git annex export HEAD` for an export remote. Each JSON result becomes a
 * DataLad copy record (results.py annexjson2result); progress lines are summed.
 */
import { join } from 'node:path';
import { firstErrorLine, gitBatch, gitLines } from '../git.js';
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
  /** Transfers at once: this many single-threaded git-annex processes (see pool()). */
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
  /** Handles one output line; true when it answers an input (a result, or the empty line of "nothing to do"). */
  const onLine = (line: string): boolean => {
    if (line === '') return true;
    let j: AnnexJson;
    try {
      j = JSON.parse(line) as AnnexJson;
    } catch {
      return false; // not JSON (a stray message): git-annex's own result lines are
    }
    if (j['byte-progress'] !== undefined && j.action) {
      const id = j.action.file ?? j.action.key ?? '';
      partial.set(id, j['byte-progress']);
      report(false, j.action.file ?? byKey.get(j.action.key ?? '')?.file);
      return false;
    }
    if (j.success === undefined) return false;
    partial.delete(j.file ?? j.key ?? '');
    const known = j.file ? undefined : byKey.get(j.key ?? '');
    const record = annexResult(known ? { ...j, file: known.file } : j, spec);
    if (record.status !== 'ok') ok = false;
    progress.filesDone += 1;
    progress.bytesDone += (known ?? byFile.get(j.file ?? ''))?.bytes ?? 0;
    emit({ kind: 'record', record });
    report(true);
    return true;
  };
  const failed = (what: string, stderr: string): void => {
    // Failed without a failed result line (e.g. the remote could not be set up): one record says why.
    if (!ok) return;
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
        message: `git annex ${what} --to ${spec.target} failed: ${firstErrorLine({ code: 1, stdout: '', stderr })}`,
      },
    });
  };
  const json = ['--json', '--json-progress', '--json-error-messages'];
  report(true);
  if (spec.mode === 'export') {
    // One thread: git-annex processes with several threads in one repository trip fcntl's deadlock detection.
    const r = await gitLines(spec.ds, ['annex', 'export', 'HEAD', '--to', spec.target, ...json], { signal: spec.signal, onLine });
    if (r.code !== 0) failed('export', r.stderr);
    return ok;
  }
  const flags = ['--to', spec.target, ...(spec.auto ? ['--auto'] : []), ...(spec.fast ? ['--fast'] : []), ...json];
  if (spec.files.length) {
    await pool(spec, ['annex', 'copy', '--batch', '-z', ...flags], spec.files.map((f) => `${f.file}\0`), onLine, failed);
  }
  if (spec.byKey.length) {
    // --auto decides by file name, which a key has not: saved-but-changed files go as keys without it.
    const keyFlags = flags.filter((f) => f !== '--auto');
    await pool(spec, ['annex', 'copy', '--batch-keys', ...keyFlags], spec.byKey.map((f) => `${f.key}\n`), onLine, failed);
  }
  return ok;
}

/**
 * Runs `jobs` single-threaded git-annex batch processes on one queue: each
 * gets its next input when it has answered its last but one, so a large file
 * holds up one process only. Not `-J N` in one process: two multi-threaded
 * git-annex processes in the same repository (one per sibling, at the same
 * time) fail transfers with "waitToSetLock: resource busy (Resource deadlock
 * avoided)", fcntl's deadlock detection seeing one process where there are
 * threads (git-annex 10.20230126); single-threaded processes never do.
 */
async function pool(
  spec: TransferSpec,
  args: string[],
  inputs: string[],
  onLine: (line: string) => boolean,
  failed: (what: string, stderr: string) => void,
): Promise<void> {
  let next = 0;
  const workers = Math.max(1, Math.min(spec.jobs ?? 1, inputs.length));
  const runs = Array.from({ length: workers }, async () => {
    let inflight = 0;
    const feed = (): void => {
      while (inflight < 2 && next < inputs.length) {
        proc.write(inputs[next++] as string);
        inflight++;
      }
      if (inflight === 0 && next >= inputs.length) proc.end();
    };
    const proc = gitBatch(spec.ds, args, {
      ...(spec.signal ? { signal: spec.signal } : {}),
      onLine: (line) => {
        if (onLine(line)) {
          inflight--;
          feed();
        }
      },
    });
    feed();
    const r = await proc.done;
    if (r.code !== 0 || inflight > 0) failed('copy', r.stderr || `git-annex exited with ${inflight} transfer(s) unanswered`);
  });
  await Promise.all(runs);
}
