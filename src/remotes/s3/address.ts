/** Where an S3 object lives on the wire; no dependencies, so start-up code may use it. */
import { isIP } from 'node:net';
import { endpointUrl, type S3Settings } from './config.js';
import { socketHost } from '../core/hosts.js';

/** RFC 3986 encoding of one path segment, as S3's canonical URI needs. */
export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface ObjectAddress {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
  /** Path of the object, already encoded. */
  path: string;
}

/** Where an object lives: path-style or virtual-hosted, on the endpoint or on AWS. */
export function objectAddress(s: S3Settings, objectKey: string): ObjectAddress {
  const base = new URL(endpointUrl(s));
  const keyPath = objectKey.split('/').map(encodeSegment).join('/');
  const basePath = base.pathname.replace(/\/+$/, '');
  // Dotted bucket names break TLS name checks when virtual-hosted, and an IP address
  // has no subdomains, so the SDK uses path style for both; the signature must agree.
  const pathStyle = s.pathStyle || (base.protocol === 'https:' && s.bucket.includes('.')) || isIP(socketHost(base.hostname)) !== 0;
  return {
    protocol: base.protocol === 'http:' ? 'http:' : 'https:',
    hostname: pathStyle ? base.hostname : `${s.bucket}.${base.hostname}`,
    port: base.port ? Number(base.port) : undefined,
    path: pathStyle ? `${basePath}/${encodeSegment(s.bucket)}/${keyPath}` : `${basePath}/${keyPath}`,
  };
}
