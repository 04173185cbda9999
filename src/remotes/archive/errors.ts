/** What can go wrong with one archive or member, as one line naming the cause and the fix. */
import { messageOf, RemoteError } from '../../protocol/errors.js';
import { formatSize } from '../core/sizes.js';

/** A member refused for safety (path, link, size, bomb): never worth another try from the same archive. */
export class RefusedMemberError extends RemoteError {}

/** The archive itself cannot be read: corrupt, truncated or of a format we do not read. */
export class BadArchiveError extends RemoteError {}

/** The archive's content could not be had: no remote has it, or the nested get failed. */
export class ArchiveUnavailableError extends RemoteError {}

/** The member is not in the archive. */
export class MemberMissingError extends RemoteError {}

/** xz-embedded's return codes (xz.h), which xz-decompress reports as numbers. */
const XZ_CODES: Record<string, string> = {
  '4': 'xz: the archive needs more memory than allowed',
  '5': 'xz: not in xz format',
  '6': 'xz: compression options that are not supported',
  '7': 'xz: the compressed data is corrupt',
  '8': 'xz: the compressed data ends unexpectedly',
};

function libraryMessage(err: unknown): string {
  const text = messageOf(err);
  const xz = /get_next_output failed with error code (\d+)/.exec(text);
  return (xz && XZ_CODES[xz[1] ?? '']) ?? text;
}

/** Errors of the decompression and archive libraries, named for the user. */
export function corrupt(archiveKey: string, err: unknown): BadArchiveError {
  if (err instanceof RemoteError) return err;
  return new BadArchiveError(
    `archive ${archiveKey} is corrupt or truncated (${libraryMessage(err)}): check it with "git annex fsck --key ${archiveKey}" and get a good copy`,
    { cause: err },
  );
}

export function describeArchiveError(err: unknown, operation: string): string {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code === 'ENOSPC') return `${operation} failed: no space left on the disk (${e.path ?? ''}); free some, or lower cachesize=`;
  if (e?.code === 'EACCES') return `${operation} failed: permission denied on ${e.path ?? 'a file'}`;
  return `${operation} failed: ${messageOf(err)}`;
}

/** A decompression bomb refused: `what` names the member, `how` how far it expands. */
export function bombRefused(what: string, how: string, byTotal: boolean, limits: { maxRatio: number; maxTotal: number }): RefusedMemberError {
  const setting = byTotal ? 'maxtotal' : 'maxratio';
  return new RefusedMemberError(
    `refused ${what}: ${how}, ${byTotal ? `more than maxtotal=${formatSize(limits.maxTotal)}` : `over ${limits.maxRatio} times its compressed size (maxratio=${limits.maxRatio})`}` +
      `, which looks like a decompression bomb; if it is not, raise the limit: git annex enableremote REMOTE ${setting}=…`,
  );
}
