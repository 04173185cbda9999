/** What the create-sibling-osf, -s3 and -webdav commands share on the command line: checks and rendering. */
import type { CreateSiblingResult } from '../../orchestration/create-sibling-common.js';
import { out, UsageError } from '../command.js';

export function oneOf<T extends string>(option: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${option} must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, not "${value}"`);
  return value as T;
}

/** Sibling names given by the user: ones git, git-annex and DataLad all take. */
export function checkRemoteNames(names: ReadonlyArray<readonly [option: string, value: string | undefined]>): void {
  for (const [option, value] of names) {
    if (value !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
      throw new UsageError(`--${option} "${value}" is not a usable remote name (letters, digits, ".", "_", "-")`);
    }
  }
}

/** A result as DataLad renders it: `create-sibling-osf(ok): https://osf.io/ab12c/ [message]`. */
export function renderRecord(r: CreateSiblingResult<string>): string {
  const what = r.url ?? r.name ?? r.path;
  return `${r.action}(${r.status}): ${what}${r.message ? ` [${r.message}]` : ''}`;
}

/** Prints each record (rendered, or JSON); the exit code: 1 when any failed. */
export async function printRecords(records: AsyncIterable<CreateSiblingResult<string>>, json: boolean): Promise<number> {
  let failed = false;
  for await (const record of records) {
    if (record.status === 'error' || record.status === 'impossible') failed = true;
    out(json ? JSON.stringify(record) : renderRecord(record));
  }
  return failed ? 1 : 0;
}
