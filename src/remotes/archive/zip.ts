/**
 * Zip archives, read through the central directory with yauzl (maintained,
 * streaming, the library most Node tools use; it checks that a member inflates
 * to exactly its recorded size). Only the requested member is inflated. File
 * names are decoded without yauzl's own validation, which would fail the
 * whole archive on one bad name: here an unsafe name refuses just that member.
 */
import type { Readable } from 'node:stream';
import type { Entry, ZipFile } from 'yauzl';
import { expansionAllowed, type Limits } from './config.js';
import { BadArchiveError, bombRefused, corrupt } from './errors.js';
import { normalizeMemberName, type MemberInfo } from './members.js';
import { formatSize } from '../core/sizes.js';

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
/** Symbolic link targets longer than this are not links anyone made on purpose. */
const MAX_LINK_TARGET = 4096;

export interface ZipArchive {
  members: Map<string, MemberInfo>;
  /** The member's content, checked against the bomb limits. */
  open(member: MemberInfo): Promise<Readable>;
  close(): void;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A member's name. Info-ZIP's zip on Linux (and many other tools) writes UTF-8
 * names without the UTF-8 flag; the spec then says CP437, which would turn
 * "é" into "├⌐". As unzip, libarchive and 7-Zip do, bytes that are valid UTF-8
 * are read as UTF-8; the rest as the spec says.
 */
function fileName(lowLevel: typeof import('yauzl').getFileNameLowLevel, entry: Entry): string {
  const bytes = entry.fileName as unknown as Buffer;
  const decoded = lowLevel(entry.generalPurposeBitFlag, bytes, entry.extraFields, false);
  if (entry.generalPurposeBitFlag & 0x800) return decoded;
  // An Info-ZIP Unicode Path extra field (0x7075) already gave the real name.
  if (entry.extraFields.some((f) => f.id === 0x7075)) return decoded;
  try {
    return utf8.decode(bytes);
  } catch {
    return decoded;
  }
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    parts.push(c as Buffer);
    n += (c as Buffer).length;
    if (n > limit) {
      stream.destroy();
      break;
    }
  }
  return Buffer.concat(parts);
}

export async function openZip(file: string, archiveKey: string, limits: Limits): Promise<ZipArchive> {
  const yauzl = (await import('yauzl')).default;
  let zip: ZipFile;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true });
  } catch (err) {
    throw corrupt(archiveKey, err);
  }
  const entries = new Map<MemberInfo, Entry>();
  const members = new Map<string, MemberInfo>();
  const openEntry = async (entry: Entry): Promise<Readable> => {
    try {
      return await zip.openReadStreamPromise(entry);
    } catch (err) {
      throw corrupt(archiveKey, err);
    }
  };
  try {
    for await (const entry of zip.eachEntry()) {
      const raw = fileName(yauzl.getFileNameLowLevel, entry);
      const { name, unsafe } = normalizeMemberName(raw);
      const unixMode = entry.versionMadeBy >> 8 === 3 ? entry.externalFileAttributes >>> 16 : 0;
      const info: MemberInfo = {
        name,
        raw,
        type: raw.endsWith('/') ? 'directory' : (unixMode & S_IFMT) === S_IFLNK ? 'symlink' : 'file',
        size: entry.uncompressedSize,
      };
      if (unsafe) info.unsafe = unsafe;
      if (info.type === 'symlink' && !unsafe && entry.uncompressedSize <= MAX_LINK_TARGET) {
        info.linkname = (await readAll(await openEntry(entry), MAX_LINK_TARGET)).toString('utf8');
      }
      entries.set(info, entry);
      members.set(name, info);
    }
  } catch (err) {
    zip.close();
    throw corrupt(archiveKey, err);
  }
  return {
    members,
    async open(member) {
      const entry = entries.get(member);
      if (!entry) throw new Error(`internal: ${member.raw} is not a member of this zip archive`);
      if (entry.generalPurposeBitFlag & 1) {
        throw new BadArchiveError(`member "${member.raw}" of zip archive ${archiveKey} is encrypted: annexd does not decrypt zip archives`);
      }
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
        throw new BadArchiveError(
          `member "${member.raw}" of zip archive ${archiveKey} uses compression method ${entry.compressionMethod}: annexd reads stored and deflated zip members`,
        );
      }
      const allowed = expansionAllowed(limits, entry.compressedSize);
      if (entry.uncompressedSize > allowed) {
        throw bombRefused(
          `member "${member.raw}" of zip archive ${archiveKey}`,
          `it expands from ${formatSize(entry.compressedSize)} to ${formatSize(entry.uncompressedSize)}`,
          allowed >= limits.maxTotal,
          limits,
        );
      }
      return openEntry(entry);
    },
    close: () => zip.close(),
  };
}
