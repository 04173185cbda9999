// unbzip2-stream ships no types: a classic ("through") stream of decompressed bytes.
declare module 'unbzip2-stream' {
  import type { Stream } from 'node:stream';
  interface Unbzip2Stream extends Stream {
    pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T;
  }
  function unbzip2Stream(): Unbzip2Stream & NodeJS.WritableStream;
  export default unbzip2Stream;
}
