/**
 * Validation of `"ip:port"` socket addresses, done in TypeScript so a typo
 * fails at the call that made it rather than deep inside a native dial.
 *
 * @internal
 * @module
 */

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import { BadAddressError } from './errors.js';

// Host is either bracketed IPv6 or anything without a colon (IPv4); the
// port is plain decimal, so "+80", "0x50" and "1e3" are rejected.
const SOCKET_ADDR = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/;

/**
 * Checks that `addr` is `"ipv4:port"` or `"[ipv6]:port"` with a literal IP
 * (no host names: the native side does not resolve DNS).
 *
 * @param addr - the address to check
 * @param what - how the message names it, e.g. `"bind address"`
 * @param allowPortZero - port 0 ("any free port") only makes sense for binding
 * @returns `addr`, unchanged
 * @throws {@link BadAddressError} (`ERR_X0X_BAD_ADDRESS`) when it does not match
 */
export function checkSocketAddress(addr: unknown, what: string, allowPortZero: boolean): string {
  const lowest = allowPortZero ? 0 : 1;
  const fail = (): never => {
    const shown = typeof addr === 'string' ? JSON.stringify(addr) : typeof addr;
    throw new BadAddressError(
      `${what} must be "ip:port" with a literal IP (IPv6 as "[::1]:port") and a port from ` +
        `${lowest} to 65535 (got ${shown})`,
      typeof addr === 'string' ? { address: addr } : {},
    );
  };
  if (typeof addr !== 'string') return fail();
  const match = SOCKET_ADDR.exec(addr);
  if (!match) return fail();
  const [, v6, v4, port] = match;
  const ipOk = v6 !== undefined ? isIP(v6) === 6 : v4 !== undefined && isIP(v4) === 4;
  const portNumber = Number(port);
  if (!ipOk || portNumber < lowest || portNumber > 65535) return fail();
  return addr;
}

// A DNS name: dot-separated labels of letters, digits and inner hyphens, not
// all-numeric at the end (that would be a mistyped IPv4 address).
const HOST_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?$/i;
const HOST_PORT = /^([^:[\]]+):(\d{1,5})$/;

/**
 * Checks a peer address: a literal `"ip:port"` (see
 * {@link checkSocketAddress}) or `"host.name:port"`, port 1 to 65535. Names
 * are resolved later, by {@link resolvePeerAddresses}.
 *
 * @returns `addr`, unchanged
 * @throws {@link BadAddressError} (`ERR_X0X_BAD_ADDRESS`) naming the value when it is neither
 */
export function checkPeerAddress(addr: unknown, what: string): string {
  if (typeof addr === 'string') {
    const named = HOST_PORT.exec(addr);
    if (named && isIP(named[1]!) === 0 && HOST_NAME.test(named[1]!) && !/^[\d.]+$/.test(named[1]!)) {
      const port = Number(named[2]);
      if (port >= 1 && port <= 65535) return addr;
    }
  }
  try {
    return checkSocketAddress(addr, what, false);
  } catch {
    const shown = typeof addr === 'string' ? JSON.stringify(addr) : typeof addr;
    throw new BadAddressError(
      `${what} must be "ip:port" (IPv6 as "[::1]:port") or "host.name:port", with a port from 1 to 65535 ` +
        `(got ${shown})`,
      typeof addr === 'string' ? { address: addr } : {},
    );
  }
}

/**
 * Resolves the host names among `addrs` (checked by {@link checkPeerAddress})
 * to every address they name, keeping literal addresses as they are.
 *
 * @throws {@link BadAddressError} (`ERR_X0X_BAD_ADDRESS`) naming the entry whose name does not resolve
 */
export async function resolvePeerAddresses(addrs: readonly string[], what: string): Promise<string[]> {
  const out: string[] = [];
  for (const addr of addrs) {
    const named = HOST_PORT.exec(addr);
    if (named === null || isIP(named[1]!) !== 0) {
      out.push(addr);
      continue;
    }
    const [, host, port] = named;
    let found: { address: string; family: number }[];
    try {
      found = await lookup(host!, { all: true });
    } catch (err) {
      const why = (err as { code?: unknown }).code;
      throw new BadAddressError(
        `${what} ${JSON.stringify(addr)}: host name ${JSON.stringify(host)} cannot be resolved` +
          (typeof why === 'string' ? ` (${why})` : ''),
        { address: addr, cause: err },
      );
    }
    for (const { address, family } of found) {
      const entry = family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
      if (!out.includes(entry)) out.push(entry);
    }
  }
  return out;
}
