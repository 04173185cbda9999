/**
 * Which kind of archive a file is (from its first bytes, not its name: keys
 * without an extension, e.g. MD5 or WORM, are common), and the stream of its
 * tar bytes for the compressed kinds.
 *
 * Libraries, chosen for being maintained, streaming and free of native code
 * (nothing to build on a user's machine):
 * - gzip: Node's own zlib.
 * - xz: xz-decompress (httptoolkit; xz-embedded compiled to WebAssembly, a web
 *   ReadableStream). lzma-native and node-liblzma need native builds, and
 *   node-liblzma and @napi-rs/lzma need Node >= 22; @napi-rs/lzma has no streams.
 * - bzip2: the system's bzip2 program (Debian priority "standard", as
 *   everywhere), through a pipe. The npm decoders are no fit: unbzip2-stream
 *   builds each block's whole output as a JavaScript array, so a 208-byte
 *   bzip2 file of zeros made it use 1.1 GiB before its first byte came out
 *   (and it decodes at 3 MB/s); seek-bzip decodes whole buffers, synchronously;
 *   the WebAssembly ports need the output size in advance.
 * - tar: tar-stream (mafintosh, streaming, pax and GNU long names).
 * - zip: yauzl (see zip.ts).
 */
import { open } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { BadArchiveError } from './errors.js';

export type Format = 'tar' | 'tar.gz' | 'tar.bz2' | 'tar.xz' | 'zip';
export type Compression = 'gzip' | 'bzip2' | 'xz';

export const COMPRESSION: Record<Exclude<Format, 'zip'>, Compression | undefined> = {
  tar: undefined,
  'tar.gz': 'gzip',
  'tar.bz2': 'bzip2',
  'tar.xz': 'xz',
};

/** A 512-byte block that is a tar header: its checksum adds up (old v7 tars have no "ustar" magic). */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const stored = Number.parseInt(block.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] ?? 0);
  return sum === stored;
}

const startsWith = (b: Buffer, bytes: number[]): boolean => bytes.every((v, i) => b[i] === v);

/** Names what a file that is none of ours looks like, for the error message. */
function otherFormat(head: Buffer): string | undefined {
  if (startsWith(head, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])) return '7z';
  if (head.subarray(0, 4).toString('latin1') === 'Rar!') return 'rar';
  if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd])) return 'zstd';
  if (startsWith(head, [0x1f, 0x9d]) || startsWith(head, [0x1f, 0xa0])) return 'compress (.Z)';
  if (startsWith(head, [0x04, 0x22, 0x4d, 0x18])) return 'lz4';
  return undefined;
}

export const SUPPORTED = 'tar, tar.gz, tar.bz2, tar.xz or zip';

export async function sniff(file: string, archiveKey: string): Promise<Format> {
  const fh = await open(file, 'r');
  const head = Buffer.alloc(512);
  let n: number;
  try {
    ({ bytesRead: n } = await fh.read(head, 0, 512, 0));
  } finally {
    await fh.close();
  }
  const b = head.subarray(0, n);
  if (startsWith(b, [0x1f, 0x8b])) return 'tar.gz';
  if (startsWith(b, [0x42, 0x5a, 0x68])) return 'tar.bz2';
  if (startsWith(b, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'tar.xz';
  if (startsWith(b, [0x50, 0x4b]) && (b[2] === 3 || b[2] === 5 || b[2] === 7)) return 'zip';
  if (isTarHeader(b)) return 'tar';
  // An archive of nothing but the two zero end blocks.
  if (n === 512 && b.every((x) => x === 0)) return 'tar';
  const other = otherFormat(b);
  throw new BadArchiveError(
    n === 0
      ? `archive ${archiveKey} is an empty file: get a good copy (git annex fsck --key ${archiveKey})`
      : `archive ${archiveKey} is ${other ? `a ${other} archive` : 'not an archive annexd reads'}: annexd reads ${SUPPORTED}${other ? '' : ' (is it corrupt?)'}`,
  );
}

/** `bzip2 -dc FILE`: stops (the process is killed) when the reader stops. */
function bunzip2(file: string): Readable {
  const child = spawn('bzip2', ['-dc', '--', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.on('error', (err: NodeJS.ErrnoException) => {
    out.destroy(
      err.code === 'ENOENT'
        ? new BadArchiveError('reading tar.bz2 archives needs the bzip2 program, which is not installed: run "apt-get install bzip2"')
        : err,
    );
  });
  child.stdout.pipe(out, { end: false });
  child.on('close', (code, signal) => {
    if (code === 0) out.end();
    else if (!out.destroyed) {
      // bzip2's first line says what is wrong ("bzip2: Compressed file ends unexpectedly;"); the rest is advice.
      const said = stderr.split('\n').find((l) => l.startsWith('bzip2:')) ?? stderr.trim().split('\n')[0];
      out.destroy(new Error(said?.replace(/;\s*$/, '') || `bzip2 exited ${code ?? signal}`));
    }
  });
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  return out;
}

async function unxz(input: Readable): Promise<Readable> {
  const { default: xz } = await import('xz-decompress');
  return Readable.fromWeb(new xz.XzReadableStream(Readable.toWeb(input) as ReadableStream<Uint8Array>) as import('node:stream/web').ReadableStream<Uint8Array>);
}

/** The tar bytes of an archive file (compressed or not), streamed. */
export async function tarStream(file: string, format: Exclude<Format, 'zip'>): Promise<Readable> {
  const compression = COMPRESSION[format];
  if (compression === 'bzip2') return bunzip2(file);
  const raw = createReadStream(file, { highWaterMark: 1024 * 1024 });
  switch (compression) {
    case undefined:
      return raw;
    case 'gzip': {
      const gunzip = createGunzip({ chunkSize: 256 * 1024 });
      raw.on('error', (err) => gunzip.destroy(err));
      gunzip.on('close', () => raw.destroy());
      return raw.pipe(gunzip);
    }
    case 'xz':
      return unxz(raw);
  }
}
