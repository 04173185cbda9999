/** The push engine: `push()` (async iterator of events) or `runPush()` (callback); the CLI and the daemon only render. */
export { push, runPush } from './engine.js';
export { parsePorcelain, refStatus } from './refs.js';
export { annexResult } from './transfer.js';
export * from './types.js';
