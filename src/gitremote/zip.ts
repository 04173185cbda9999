/**
 * The repository archive (XDLRA--repo-export): a ZIP of the bare mirror.
 *
 * Reading: yauzl for the container (stored and deflated members, sizes
 * checked); DataLad writes LZMA members (method 14), which yauzl hands over
 * raw: a ZIP LZMA member is 2 bytes of encoder version, 2 bytes of properties
 * size, the 5 property bytes and the raw LZMA1 stream, so the .lzma header that
 * lzma1 decodes is rebuilt from those properties and the member's size.
 *
 * Only what datalad-next lets through is extracted (the top-level names in
 * SAFE, also under a legacy "repo/" prefix), and less: hooks/ would run in the
 * helper's own receive-pack, so they are skipped, and the config is rewritten
 * by the caller. A member named absolute, with "..", with a backslash, or a
 * symbolic link refuses the whole archive: a deposit that tries to escape is
 * not one to trust in part.
 *
 * Writing: yazl, deflate (Python's zipfile, so DataLad, reads it); yazl has no
 * LZMA, and a hand-made LZMA container is not worth the risk for a few MiB.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GitRemoteError } from './errors.js';

/** datalad-next's positive list of top-level names in a repository archive. */
export const SAFE = ['branches', 'hooks', 'info', 'objects', 'refs', 'config', 'packed-refs', 'description', 'HEAD'];
/** Of those, what annexd does not extract: hooks would run in the mirror. */
const SKIPPED = new Set(['hooks']);

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A ZIP LZMA member (APPNOTE 5.8.8) decoded with lzma1. */
async function decodeZipLzma(raw: Buffer, size: number, member: string): Promise<Buffer> {
  // lzma1 ships its TypeScript source as its types, which do not pass this
  // project's strict checks: loaded by a name the compiler does not resolve.
  const name = 'lzma1';
  const { decompress } = (await import(name)) as { decompress(data: Uint8Array): Uint8Array };
  if (raw.length < 9) throw new GitRemoteError(`member ${member} is truncated (LZMA header)`);
  const propsSize = raw.readUInt16LE(2);
  if (propsSize !== 5) throw new GitRemoteError(`member ${member}: LZMA properties of ${propsSize} bytes (expected 5)`);
  const header = Buffer.alloc(13);
  raw.copy(header, 0, 4, 9);
  header.writeBigUInt64LE(BigInt(size), 5);
  let out: Uint8Array;
  try {
    out = decompress(Buffer.concat([header, raw.subarray(9)]));
  } catch (err) {
    throw new GitRemoteError(`member ${member} does not decompress (LZMA): ${(err as Error).message}`);
  }
  if (out.length !== size) throw new GitRemoteError(`member ${member} is truncated: ${out.length} of ${size} bytes`);
  return Buffer.from(out);
}

/** A member's path relative to the archive root, or a refusal naming it. */
function memberPath(raw: string): string[] {
  if (raw.includes('\0') || raw.includes('\\')) throw new GitRemoteError(`member "${raw}" has a backslash or NUL in its name`);
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw new GitRemoteError(`member "${raw}" is an absolute path`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new GitRemoteError(`member "${raw}" would escape the repository ("..")`);
  return parts;
}

/**
 * Extracts the repository archive `file` into the (new, empty) directory
 * `dest`. Throws a GitRemoteError naming the problem; the caller removes `dest`.
 */
export async function extractRepoArchive(file: string, dest: string): Promise<void> {
  const yauzl = (await import('yauzl')).default;
  let zip;
  try {
    zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true });
  } catch (err) {
    throw new GitRemoteError(`the repository archive is not a readable ZIP file (${(err as Error).message}): the deposit is corrupt or truncated`);
  }
  try {
    const entries = [];
    for await (const e of zip.eachEntry()) entries.push(e);
    const names = entries.map((e) => {
      const bytes = e.fileName as unknown as Buffer;
      try {
        return utf8.decode(bytes);
      } catch {
        return yauzl.getFileNameLowLevel(e.generalPurposeBitFlag, bytes, e.extraFields, false);
      }
    });
    const legacy = names.some((n) => n === 'repo/' || n === 'repo');
    let wrote = 0;
    for (const [i, entry] of entries.entries()) {
      const raw = names[i]!;
      let parts = memberPath(raw);
      if (legacy) {
        if (parts[0] !== 'repo') continue;
        parts = parts.slice(1);
      }
      if (parts.length === 0 || !SAFE.includes(parts[0]!) || SKIPPED.has(parts[0]!)) continue;
      const unixMode = entry.versionMadeBy >> 8 === 3 ? entry.externalFileAttributes >>> 16 : 0;
      if ((unixMode & S_IFMT) === S_IFLNK) throw new GitRemoteError(`member "${raw}" is a symbolic link`);
      const target = join(dest, ...parts);
      if (raw.endsWith('/')) {
        await mkdir(target, { recursive: true });
        continue;
      }
      if (entry.generalPurposeBitFlag & 1) throw new GitRemoteError(`member "${raw}" is encrypted`);
      await mkdir(join(dest, ...parts.slice(0, -1)), { recursive: true });
      if (entry.compressionMethod === 14) {
        // yauzl decodes only deflate: a method-14 member is read raw (decodeFileData: false).
        const rawData = await readAll(await zip.openReadStreamPromise(entry, { decodeFileData: false }));
        await writeFile(target, await decodeZipLzma(rawData, entry.uncompressedSize, raw), { flag: 'wx' });
      } else if (entry.compressionMethod === 0 || entry.compressionMethod === 8) {
        await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(target, { flags: 'wx' }));
      } else {
        throw new GitRemoteError(`member "${raw}" uses ZIP compression method ${entry.compressionMethod} (annexd reads stored, deflate and LZMA)`);
      }
      wrote++;
    }
    if (wrote === 0) throw new GitRemoteError('the repository archive holds no repository files');
  } catch (err) {
    if (err instanceof GitRemoteError) throw new GitRemoteError(`the repository archive is refused: ${err.message}`);
    throw new GitRemoteError(`the repository archive is corrupt or truncated: ${(err as Error).message}`);
  } finally {
    zip.close();
  }
}

async function walk(root: string, rel: string, out: string[]): Promise<void> {
  for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) {
      out.push(`${r}/`);
      await walk(root, r, out);
    } else if (d.isFile()) out.push(r);
  }
}

/** Writes a ZIP of the bare repository `gitDir` (its SAFE top-level entries) to `file`. */
export async function writeRepoArchive(gitDir: string, file: string, compress: boolean): Promise<void> {
  const { ZipFile } = (await import('yazl')).default;
  const names: string[] = [];
  await walk(gitDir, '', names);
  const zip = new ZipFile();
  const mtime = new Date();
  for (const n of names.sort()) {
    if (!SAFE.includes(n.split('/')[0]!) || n.startsWith('hooks')) continue;
    if (n.endsWith('/')) zip.addEmptyDirectory(n, { mtime, mode: 0o40755 });
    else zip.addFile(join(gitDir, n), n, { compress, mtime, mode: 0o100644 });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file));
}
