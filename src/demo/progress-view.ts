/**
 * Renders git-annex's --json-progress stream as a few readable lines, on a
 * terminal or not: a line per finished file, and quarter marks for big files.
 */
import { formatSize } from '../remotes/core/sizes.js';

interface ProgressLine {
  'byte-progress'?: number;
  'total-size'?: number;
  action?: { file?: string };
  file?: string;
  success?: boolean;
  'error-messages'?: string[];
}

/** Files at least this big also get 25/50/75 % lines. */
const BIG_FILE_BYTES = 8 * 1024 * 1024;

export class ProgressView {
  private readonly marks = new Map<string, number>();
  private readonly sizes = new Map<string, number>();
  private buffered = '';
  ok = 0;
  failed = 0;

  constructor(private readonly out: (line: string) => void) {}

  /** Feeds raw stdout of `git annex … --json --json-progress`. */
  feed(chunk: string): void {
    this.buffered += chunk;
    let nl = this.buffered.indexOf('\n');
    while (nl !== -1) {
      this.line(this.buffered.slice(0, nl));
      this.buffered = this.buffered.slice(nl + 1);
      nl = this.buffered.indexOf('\n');
    }
  }

  private line(text: string): void {
    let msg: ProgressLine;
    try {
      msg = JSON.parse(text) as ProgressLine;
    } catch {
      if (text.trim()) this.out(`  ${text}`);
      return;
    }
    if (msg['byte-progress'] !== undefined) {
      const file = msg.action?.file ?? '?';
      const total = msg['total-size'] ?? 0;
      this.sizes.set(file, total);
      if (total < BIG_FILE_BYTES) return;
      const quarter = Math.floor((msg['byte-progress'] / total) * 4);
      if (quarter > (this.marks.get(file) ?? 0) && quarter < 4) {
        this.marks.set(file, quarter);
        this.out(`  … ${file} ${quarter * 25}% (${formatSize(msg['byte-progress'])} of ${formatSize(total)})`);
      }
      return;
    }
    if (msg.success !== undefined) {
      const file = msg.file ?? '?';
      const size = this.sizes.get(file);
      if (msg.success) {
        this.ok++;
        this.out(`  ✓ ${file}${size ? ` (${formatSize(size)})` : ''}`);
      } else {
        this.failed++;
        this.out(`  ✗ ${file}: ${(msg['error-messages'] ?? []).join('; ') || 'failed'}`);
      }
    }
  }
}
