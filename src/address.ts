/**
 * Validation of `"ip:port"` socket addresses, done in TypeScript so a typo
 * fails at the call that made it rather than deep inside a native dial.
 *
 * @internal
 * @module
 */

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
 * @throws {@link BadAddressError} when it does not match
 */
export function checkSocketAddress(addr: unknown, what: string, allowPortZero: boolean): string {
  const lowest = allowPortZero ? 0 : 1;
  const fail = (): never => {
    const shown = typeof addr === 'string' ? JSON.stringify(addr) : typeof addr;
    throw new BadAddressError(
      `${what} must be "ip:port" with a literal IP (IPv6 as "[::1]:port") and a port from ` +
        `${lowest} to 65535 (got ${shown})`,
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
