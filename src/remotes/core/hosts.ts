/**
 * Host names as sockets need them. A URL keeps an IPv6 literal in brackets
 * (new URL('http://[::1]:9000').hostname is "[::1]"); handed to a socket as a
 * host name, that is looked up in DNS and never resolves. The brackets belong
 * in the Host header and in signatures, not in the connection.
 */
export function socketHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}
