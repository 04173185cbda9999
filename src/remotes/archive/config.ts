/** Every setting of an archive remote: drives LISTCONFIGS, --help and validation. All are optional. */
import { integer, size, type ConfigOf, type FieldSpec } from '../core/config.js';

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "30m", "12h", "7d", "90s" or a number of seconds. */
function duration(description: string, fallback: string): FieldSpec<number> {
  return {
    description,
    parse(raw) {
      const m = /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(raw || fallback);
      if (!m) throw new Error(`is not a duration: "${raw}" (expected e.g. 12h or 7d)`);
      return Number(m[1]) * (DURATION_UNITS[(m[2] || 's').toLowerCase()] ?? 1) * 1000;
    },
  };
}

export const archiveSchema = {
  cachesize: size(
    'most disk space the cache of decompressed tar archives under .git/annex/annexd/archives may use; the least recently used archives are removed beyond it; an archive bigger than this is read from the start for each file instead (default 10GiB; 0 turns the cache off)',
    '10GiB',
  ),
  cacheage: duration('how long an unused decompressed archive stays in the cache, e.g. 12h or 7d (default 7d)', '7d'),
  maxratio: integer(
    'decompression bomb guard: refuse an archive or zip member that expands to more than this many times its compressed size (past the first MiB; default 2000, above what gzip and zip can reach with real data)',
    2000,
    1,
    1_000_000_000,
  ),
  maxtotal: size('decompression bomb guard: refuse an archive or zip member that expands to more than this (default 100GiB)', '100GiB', 1),
};

export type ArchiveConfig = ConfigOf<typeof archiveSchema>;

export interface Limits {
  maxRatio: number;
  maxTotal: number;
}

/** Output below this is never a bomb, whatever the ratio: tar headers and padding compress very well. */
export const RATIO_FLOOR_BYTES = 1024 * 1024;

/** How many bytes `compressed` input may expand to. */
export function expansionAllowed(limits: Limits, compressed: number): number {
  return Math.min(limits.maxTotal, Math.max(RATIO_FLOOR_BYTES, limits.maxRatio * compressed));
}
