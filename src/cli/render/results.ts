/**
 * DataLad's rendering of result records (datalad/interface/utils.py
 * generic_result_renderer, render_action_summary), for commands that report
 * DataLad-shaped results: `action(status): path (type) [message] [error]`,
 * notneeded results not shown, paths relative to the dataset called on.
 */
import { relative } from 'node:path';

export interface ResultLike {
  action: string;
  status: string;
  path?: string;
  type?: string;
  refds?: string;
  message?: string;
  error_message?: string;
}

export function renderResult(r: ResultLike): string | undefined {
  if (r.status === 'notneeded') return undefined;
  let path = r.path;
  if (path && r.refds) path = relative(r.refds, path) || '.';
  const msg = r.message ? ` [${r.message}]` : '';
  const err = r.error_message && r.status !== 'ok' ? ` [${r.error_message}]` : '';
  return `${r.action}(${r.status}):${path ? ` ${path}` : ''}${r.type ? ` (${r.type})` : ''}${msg}${err}`;
}

/** Counts per action and status, as DataLad's "action summary". */
export class ActionSummary {
  private readonly counts = new Map<string, Map<string, number>>();
  total = 0;

  add(r: ResultLike): void {
    this.total += 1;
    const byStatus = this.counts.get(r.action) ?? new Map<string, number>();
    byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    this.counts.set(r.action, byStatus);
  }

  /** Whether every result was notneeded (or there was none). */
  get nothingNeeded(): boolean {
    return [...this.counts.values()].every((m) => [...m.keys()].every((s) => s === 'notneeded'));
  }

  render(): string {
    const lines = [...this.counts.keys()].sort().map((action) => {
      const byStatus = this.counts.get(action) as Map<string, number>;
      return `  ${action} (${[...byStatus.keys()].sort().map((s) => `${s}: ${byStatus.get(s)}`).join(', ')})`;
    });
    return `action summary:\n${lines.join('\n')}`;
  }
}
