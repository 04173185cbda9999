/**
 * One pass over a tar archive (compressed or not): the metadata of every
 * member, and the data of the members the caller asks for handed to it. The
 * bytes coming out of the decompressor are counted, so a decompression bomb
 * is stopped at the limit, naming the member being read.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { expansionAllowed, type Limits } from './config.js';
import { BadArchiveError, bombRefused, corrupt, RefusedMemberError } from './errors.js';
import { COMPRESSION, isTarHeader, tarStream, type Format } from './formats.js';
import { normalizeMemberName, type MemberInfo, type MemberType } from './members.js';
import { formatSize } from '../core/sizes.js';

export interface TarScan {
  archiveKey: string;
  file: string;
  format: Exclude<Format, 'zip'>;
  compressedSize: number;
  limits: Limits;
  signal: AbortSignal;
  /** Called for each regular file member: where its data goes, or undefined to skip it. */
  take(member: MemberInfo): Promise<MemberSink | undefined>;
}

/** Receives one member's data, chunk by chunk, then close() (also when the scan fails). */
export interface MemberSink {
  write(chunk: Buffer): Promise<void>;
  close(): Promise<void>;
}

const TYPES: Record<string, MemberType> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'link',
};

/**
 * Counts decompressed bytes and keeps the first block (to tell "not a tar"
 * from "corrupt"). The reader checks the limit against the parser's position,
 * knowing which member it is in (the decompressor runs a little ahead of the
 * parser); far past the limit the meter fails by itself.
 */
class Meter extends Transform {
  bytes = 0;
  first: Buffer = Buffer.alloc(0);
  current = '(the first member)';
  constructor(
    private readonly allowed: number,
    private readonly refusal: (meter: Meter) => Error,
  ) {
    super();
  }
  /** Refuses when the tar parser has reached past the limit. */
  check(position: number): void {
    if (position > this.allowed) throw this.refusal(this);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.first.length < 512) this.first = Buffer.concat([this.first, chunk.subarray(0, 512 - this.first.length)]);
    if (this.bytes > this.allowed + HARD_STOP_SLACK) {
      cb(this.refusal(this));
      return;
    }
    cb(null, chunk);
  }
}

/** How far past the limit the decompressor may get before the meter stops it without the reader. */
const HARD_STOP_SLACK = 16 * 1024 * 1024;

/** Reads the whole archive; returns every member's metadata in archive order. */
export async function scanTar(scan: TarScan): Promise<MemberInfo[]> {
  const { default: tar } = await import('tar-stream');
  const { archiveKey, limits, compressedSize } = scan;
  const allowed = expansionAllowed(limits, compressedSize);
  const meter = new Meter(allowed, (m) =>
    bombRefused(
      `member ${m.current} of archive ${archiveKey}`,
      `the archive expands to more than ${formatSize(allowed)} from ${formatSize(compressedSize)}`,
      allowed >= limits.maxTotal,
      limits,
    ),
  );
  // Old v7 tars have no "ustar" magic; tar-stream's own types omit this option.
  const extract = tar.extract({ allowUnknownFormat: true } as unknown as Parameters<typeof tar.extract>[0]);
  const members: MemberInfo[] = [];
  const source = await tarStream(scan.file, scan.format);
  // tar-stream's streams are streamx streams: wired by hand, every failure ends the extract.
  const fail = (err: unknown): void => {
    extract.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  source.once('error', fail);
  meter.once('error', fail);
  const onAbort = (): void => fail(scan.signal.reason);
  scan.signal.addEventListener('abort', onAbort, { once: true });
  source.pipe(meter).pipe(extract);
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const raw = h.name;
      const { name, unsafe } = normalizeMemberName(raw);
      const type = TYPES[h.type ?? 'file'] ?? 'other';
      meter.current = `"${raw}"`;
      const info: MemberInfo = { name, raw, type, size: type === 'file' ? (h.size ?? 0) : 0 };
      if (h.linkname) info.linkname = h.linkname;
      if (unsafe) info.unsafe = unsafe;
      members.push(info);
      // Where the parser is in the tar stream: the limit is checked there, on each chunk of
      // every entry (skipped ones too), so the refusal names the member that crossed it.
      let at = entry.offset + 512;
      meter.check(at);
      const sink = type === 'file' && !unsafe ? await scan.take(info) : undefined;
      try {
        for await (const chunk of entry) {
          at += (chunk as Buffer).length;
          meter.check(at);
          await sink?.write(chunk as Buffer);
        }
      } finally {
        await sink?.close();
      }
    }
  } catch (err) {
    if (scan.signal.aborted) throw err;
    if (err instanceof RefusedMemberError) throw err;
    const compression = COMPRESSION[scan.format];
    if (compression && meter.first.length > 0 && members.length === 0 && !isTarHeader(meter.first)) {
      throw new BadArchiveError(
        `archive ${archiveKey} is a ${compression}-compressed file that does not hold a tar archive: annexd reads tar archives compressed with gzip, bzip2 or xz, and zip`,
        { cause: err },
      );
    }
    throw corrupt(archiveKey, err);
  } finally {
    scan.signal.removeEventListener('abort', onAbort);
    source.destroy();
    meter.destroy();
  }
  return members;
}
