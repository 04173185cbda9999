/** What push takes and what it reports: DataLad's result records, plus progress for a live display. */

export type DataMode = 'auto' | 'anything' | 'nothing' | 'auto-if-wanted';
export const DATA_MODES: readonly DataMode[] = ['auto', 'anything', 'nothing', 'auto-if-wanted'];
export type ForceMode = 'all' | 'gitpush' | 'checkdatapresent';
export const FORCE_MODES: readonly ForceMode[] = ['all', 'gitpush', 'checkdatapresent'];

export interface PushOptions {
  /** Limit to these paths (absolute, or relative to the dataset); a path into a subdataset selects it. */
  paths?: readonly string[];
  /** The sibling to push to; default: the one `git push` would use. */
  to?: string;
  /** Which annexed content to copy (DataLad's default: auto-if-wanted). */
  data?: DataMode;
  /** Only what changed since this commit-ish; "^" is the sibling's state of the current branch. */
  since?: string;
  /** Subdatasets too, bottom-up. */
  recursive?: boolean;
  /** git-annex -J N for every transfer. */
  jobs?: number;
  force?: ForceMode;
  /** Work out and report what would be pushed; change nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

export type Status = 'ok' | 'notneeded' | 'impossible' | 'error';

/** One result, with the field names and values of `datalad -f json push`. */
export interface PushRecord {
  action: 'publish' | 'copy';
  status: Status;
  /** Absolute path of the dataset or file. */
  path: string;
  type?: 'dataset' | 'file';
  /** The dataset push was called on. */
  refds: string;
  target?: string;
  message?: string;
  error_message?: string;
  annexkey?: string;
  /** Git push results: "refs/heads/main:refs/heads/main". */
  refspec?: string;
  operations?: string[];
  /** Git's hints for a publish record (null when it gave none, as DataLad writes it). */
  hints?: string | null;
}

/** What one sibling of one dataset would get (dry run, and the totals progress counts against). */
export interface PlanStep {
  dataset: string;
  target: string;
  /** Publication dependencies this one waits for. */
  dependsOn: string[];
  /** 'copy', 'export', or undefined (no data: annex-ignore, --data nothing, not an annex). */
  data?: 'copy' | 'export';
  /** Files (keys) to copy, and their size, as the location log has it; with --auto git-annex may skip some the sibling does not want. */
  files: number;
  bytes: number;
  /** Refspecs for the git push; [] for a special remote. */
  refspecs: string[];
}

export interface PushProgress {
  dataset: string;
  target: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** The file being transferred now, when one is. */
  file?: string;
}

export type PushEvent =
  | { kind: 'record'; record: PushRecord }
  | { kind: 'plan'; step: PlanStep }
  | { kind: 'progress'; progress: PushProgress }
  /** Something the user should know that is not a result (e.g. unsaved changes not pushed). */
  | { kind: 'note'; dataset: string; message: string };

/** Success as DataLad counts it (results.py: ok and notneeded). */
export const succeeded = (r: PushRecord): boolean => r.status === 'ok' || r.status === 'notneeded';
