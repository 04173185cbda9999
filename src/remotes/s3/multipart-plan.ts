/**
 * S3's multipart limits, and how an object of a given size is cut into parts.
 * Pure arithmetic, so the rules for objects of several GiB or TiB are unit-tested
 * without storing them.
 */
import { RemoteError } from '../../protocol/errors.js';
import { formatSize } from '../core/sizes.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The largest object one PutObject or CopyObject may write (AWS: 5 GiB). */
export const MAX_SINGLE_REQUEST = 5 * GiB;
/** Parts per upload (AWS: 1 to 10,000). */
export const MAX_PARTS = 10_000;
/** Every part but the last is at least this big (AWS: 5 MiB). */
export const MIN_PART = 5 * MiB;
/** No part is bigger (AWS: 5 GiB). */
export const MAX_PART = 5 * GiB;

export interface PartPlan {
  partSize: number;
  partCount: number;
}

/**
 * The parts of an object of `size` bytes sent `streams` at a time: `partSize`
 * as asked, lowered (to a whole MiB, not below 5 MiB) when fewer parts than
 * streams would leave connections idle, and raised when that many parts
 * would pass 10,000. An object too big for 10,000 parts of 5 GiB is refused
 * with a message saying so.
 */
export function planParts(size: number, partSize: number, streams = 1): PartPlan {
  const wholeMiB = (n: number): number => Math.ceil(n / MiB) * MiB;
  const spread = Math.min(partSize, wholeMiB(Math.ceil(size / streams)));
  const chosen = Math.min(MAX_PART, Math.max(spread, wholeMiB(Math.ceil(size / MAX_PARTS)), MIN_PART));
  const partCount = Math.max(1, Math.ceil(size / chosen));
  if (partCount > MAX_PARTS) {
    throw new RemoteError(`${formatSize(size)} is more than S3 can hold in one object (${MAX_PARTS} parts of at most ${formatSize(MAX_PART)})`);
  }
  return { partSize: chosen, partCount };
}

/** Byte range [start, end) of part `i` (from 0). */
export function partRange(plan: PartPlan, size: number, i: number): { start: number; end: number } {
  const start = i * plan.partSize;
  return { start, end: Math.min(size, start + plan.partSize) };
}

/**
 * Whether an object of `size` goes in parts: from `threshold` up, and always
 * above what one request may carry, whatever the threshold says.
 */
export function needsParts(size: number, threshold: number): boolean {
  return size >= threshold || size > MAX_SINGLE_REQUEST;
}
