/** A response body read as text up to a bound: what every HTTP backend does with error bodies and small documents. */

/** At most about `limit` bytes of `body` as UTF-8 text; past that the rest is not read (the caller drops the connection). */
export async function readText(body: AsyncIterable<Uint8Array>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    chunks.push(b);
    n += b.length;
    if (n >= limit) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}
