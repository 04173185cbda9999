/** Every setting of an annexd-s3 remote: drives LISTCONFIGS, --help and validation. */
import {
  integer,
  optionalHttpUrl,
  optionalText,
  optionalYesNo,
  requiredText,
  size,
  yesNo,
  pathProblem,
  type ConfigOf,
  type FieldSpec,
} from '../core/config.js';
import { parallelDownloadSchema, parallelDownloadSettings, type ParallelDownloadSettings } from '../core/parallel-get.js';
import { MAX_PART, MAX_SINGLE_REQUEST, MIN_PART } from './multipart-plan.js';

/** A prefix is part of every object name: one that leaves the bucket, or that servers read differently, is refused. */
function objectPrefix(description: string): FieldSpec<string | undefined> {
  return {
    description,
    parse(raw) {
      const problem = pathProblem(raw);
      if (problem) throw new Error(`${problem}, e.g. prefix=annex/`);
      return raw || undefined;
    },
  };
}

/** A bucket name goes into every request's path or host name; a "/" or a dot segment would address something else. */
function bucketName(description: string): FieldSpec<string> {
  const inner = requiredText(description, 'bucket=my-annex');
  return {
    description,
    parse(raw) {
      const name = inner.parse(raw);
      if (/[/\\\s]/.test(name) || name === '.' || name === '..') {
        throw new Error(`"${name}" is not a bucket name: no "/", "\\", spaces or dot segments (S3 bucket names are 3-63 lowercase letters, digits, dots and hyphens)`);
      }
      return name;
    },
  };
}

export const s3Schema = {
  bucket: bucketName('bucket to store objects in (created by initremote when missing)'),
  endpoint: optionalHttpUrl('URL of an S3-compatible server, e.g. http://127.0.0.1:9000 (default: AWS)'),
  region: optionalText('region (default: $AWS_REGION, else us-east-1)'),
  prefix: objectPrefix('prefix put before every object name, e.g. annex/'),
  pathstyle: optionalYesNo('address the bucket in the URL path (default: yes with endpoint=, no on AWS)'),
  credential: optionalText('name of an annexd credential holding key_id and the secret (annexd credentials set NAME key_id=…)'),
  publicurl: optionalHttpUrl('public URL of the bucket; recorded so readonly=true clones download over HTTP'),
  // Defaults chosen from bench/s3-multipart.mjs through a 25 ms / 25 MiB/s-per-connection link (README, Performance: S3).
  partsize: size('multipart part size (default 32MiB; smaller when a file has fewer parts than concurrency, larger to stay within 10,000 parts)', '32MiB', MIN_PART, MAX_PART),
  multipartthreshold: size('files at least this big upload in parallel parts (default 32MiB; above 5GiB always, as S3 takes no bigger single PUT)', '32MiB', MIN_PART),
  copythreshold: size('export renames of objects bigger than this copy in parts on the server (default 5GiB, the most one CopyObject takes)', '5GiB', MIN_PART, MAX_SINGLE_REQUEST),
  concurrency: integer('parts uploaded (or copied) at once per file (default 8; at most 16 in flight per process over all files)', 8, 1, 32),
  storageclass: optionalText('storage class for new objects, e.g. STANDARD_IA (default: the bucket default)'),
  createbucket: yesNo('create the bucket during initremote if it does not exist (default yes)', true),
  retries: integer('retries of a failed request, with exponential backoff (default 5)', 5, 0, 20),
  ...parallelDownloadSchema,
};

export type S3Config = ConfigOf<typeof s3Schema>;

/** The settings once defaults that depend on the environment are applied. */
export interface S3Settings {
  bucket: string;
  endpoint: string | undefined;
  region: string;
  prefix: string;
  pathStyle: boolean;
  publicUrl: string | undefined;
  credential: string | undefined;
  partSize: number;
  multipartThreshold: number;
  copyThreshold: number;
  concurrency: number;
  storageClass: string | undefined;
  createBucket: boolean;
  retries: number;
  download: ParallelDownloadSettings;
}

export function s3Settings(c: S3Config, env: NodeJS.ProcessEnv = process.env): S3Settings {
  return {
    bucket: c.bucket,
    endpoint: c.endpoint,
    region: c.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    prefix: c.prefix ?? '',
    pathStyle: c.pathstyle ?? c.endpoint !== undefined,
    publicUrl: c.publicurl,
    credential: c.credential,
    partSize: c.partsize,
    // A single PUT carries at most 5 GiB: a higher threshold would make bigger keys fail. A file
    // smaller than partsize still goes in parts from the threshold on (smaller ones, see planParts).
    multipartThreshold: Math.min(MAX_SINGLE_REQUEST, c.multipartthreshold),
    copyThreshold: c.copythreshold,
    concurrency: c.concurrency,
    storageClass: c.storageclass,
    createBucket: c.createbucket,
    retries: c.retries,
    download: parallelDownloadSettings(c),
  };
}

/** The server's URL: the endpoint, else AWS's for the region. */
export function endpointUrl(s: S3Settings): string {
  return s.endpoint ?? `https://s3.${s.region}.amazonaws.com`;
}

/** Where the bucket lives, for messages: the endpoint, or AWS and the region. */
export function describeEndpoint(s: S3Settings): string {
  return s.endpoint ?? `AWS S3 (${s.region})`;
}
