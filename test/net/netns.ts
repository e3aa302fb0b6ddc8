// Network-namespace test kit: real hosts, LANs and NAT routers on one Linux
// machine, for the tests of issue 15 (addresses and NAT traversal).
//
//   const lab = useNetLab()          hooks: agents killed, then namespaces removed, after each test
//   lab.available                    false when not root (the tests skip, loudly; in CI they fail)
//   const wan = lab.segment('wan', '100.64.0')       a switch (bridge) with a /24
//   const p = lab.host('p', wan, 10)                  host with eth0 = 100.64.0.10
//   const home = lab.natRouter('r1', wan, 2, 1, 'cone' | 'symmetric')
//   const h = lab.host('h1', home.lan, 2)             host behind it: 100.100.1.2
//   spawnAgent({ netns: h.ns, bindAddr: '0.0.0.0:0' })
//
// Rules the kit keeps:
// - every namespace is named `x0xt<pid>-<n>-<name>`, so a run's leftovers are
//   recognisable and never clash with another run or another engineer;
// - addresses come only from 100.64.0.0/10 (RFC 6598): 100.64.0.0/24 as the
//   public side, 100.100.N.0/24 as LANs. The documentation ranges are refused
//   by ant-quic's NAT traversal as "suspicious", and the private ranges could
//   collide with the machine's own networks;
// - no namespace has a default route: hosts route 100.64.0.0/10 only, and
//   routers know only their two connected /24s, so nothing can leave;
// - each host's interface is `eth0`: ant-quic's Linux candidate discovery
//   only takes interfaces named eth*, en*, wl*, tun*, tap*, br*;
// - teardown runs after each test, at the end of the file, and on process
//   exit, whether or not the test passed.
import { execFileSync } from 'node:child_process';

import { afterAll, afterEach } from 'vitest';

import { stopAll } from './harness.js';

/** The LAN prefix of NAT router `n`: `100.100.<n>`. */
export function lanPrefix(n: number): string {
  return `100.100.${n}`;
}

/** The public side's prefix. */
export const WAN_PREFIX = '100.64.0';

/** True when this process may create namespaces. */
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** A switch: a bridge in a namespace of its own, with a /24 (`prefix` is three octets). */
export interface Segment {
  readonly ns: string;
  readonly prefix: string;
}

/** A host: one namespace with `eth0` on a segment. */
export interface Host {
  readonly name: string;
  readonly ns: string;
  /** Its address on `eth0`, without port. */
  readonly ip: string;
}

/** A NAT router between a segment (its WAN) and a LAN of its own. */
export interface NatRouter {
  readonly ns: string;
  /** Its WAN address: what peers see the hosts behind it as. */
  readonly wanIp: string;
  /** Its LAN, on which {@link NetLab.host} puts the hosts behind it (the router is `.1`). */
  readonly lan: Segment;
}

/**
 * How a NAT router maps ports: `cone` is nftables' plain `masquerade`, which
 * Linux maps endpoint-independently (it keeps the source port when free);
 * `symmetric` is `masquerade random,fully-random`, a fresh random port per
 * destination.
 */
export type NatKind = 'cone' | 'symmetric';

function ip(args: readonly string[], input?: string): string {
  return execFileSync('ip', [...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function inNs(ns: string, cmd: readonly string[], input?: string): string {
  return ip(['netns', 'exec', ns, ...cmd], input);
}

let labCount = 0;

/** Namespaces of every lab of this process, for the exit hook. */
const allNamespaces = new Set<string>();

function removeNamespace(ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // Already gone.
  }
  allNamespaces.delete(ns);
}

process.once('exit', () => {
  for (const ns of [...allNamespaces]) removeNamespace(ns);
});

/** One test's topology. Create it with {@link useNetLab}. */
export class NetLab {
  readonly available = isRoot;
  #prefix = '';
  #count = 0;
  readonly #namespaces: string[] = [];

  #fresh(): void {
    if (this.#prefix === '') {
      labCount += 1;
      this.#prefix = `x0xt${process.pid}-${labCount}`;
    }
  }

  #namespace(name: string): string {
    this.#fresh();
    this.#count += 1;
    // Linux limits interface names, not namespace names; keep them short anyway.
    const ns = `${this.#prefix}-${this.#count}${name}`;
    ip(['netns', 'add', ns]);
    this.#namespaces.push(ns);
    allNamespaces.add(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    // No IPv6 inside the lab: link-local addresses are all it would have, and
    // they are not addresses another host could dial without a scope.
    inNs(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    inNs(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
    return ns;
  }

  /** A switch with the /24 `prefix` (three octets, inside 100.64.0.0/10). */
  segment(name: string, prefix: string): Segment {
    checkPrefix(prefix);
    const ns = this.#namespace(`sw${name}`);
    ip(['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', ns, 'link', 'set', 'br0', 'up']);
    return { ns, prefix };
  }

  /** Plugs `ifname` of `ns` into `segment` with address `<prefix>.<octet>/24`. */
  #plug(ns: string, ifname: string, segment: Segment, octet: number): string {
    const port = `p${this.#count}${ifname}`.slice(0, 15);
    ip(['link', 'add', ifname, 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', segment.ns]);
    ip(['-n', segment.ns, 'link', 'set', port, 'master', 'br0']);
    ip(['-n', segment.ns, 'link', 'set', port, 'up']);
    const addr = `${segment.prefix}.${octet}`;
    ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', ifname]);
    ip(['-n', ns, 'link', 'set', ifname, 'up']);
    return addr;
  }

  /**
   * A host with `eth0` = `<segment>.<octet>`. On a router's LAN it routes
   * 100.64.0.0/10 (and nothing else) through the router.
   */
  host(name: string, segment: Segment, octet: number): Host {
    const ns = this.#namespace(name);
    const addr = this.#plug(ns, 'eth0', segment, octet);
    if (segment.prefix.startsWith('100.100.')) {
      ip(['-n', ns, 'route', 'add', '100.64.0.0/10', 'via', `${segment.prefix}.1`]);
    }
    return { name, ns, ip: addr };
  }

  /**
   * A home router: WAN `<wan>.<wanOctet>`, LAN 100.100.`lanIndex`.0/24 (router
   * `.1`), nftables as a home router does it: masquerade on the WAN,
   * forwarding only for traffic leaving the LAN and established flows, and
   * NEW packets arriving on the WAN dropped at input. Without that drop Linux
   * answers an early hole-punch packet with ICMP port-unreachable, and the
   * conntrack entry that leaves clashes with the later outbound flow, so
   * masquerade picks a new port and the punch fails.
   */
  natRouter(name: string, wan: Segment, wanOctet: number, lanIndex: number, kind: NatKind = 'cone'): NatRouter {
    const ns = this.#namespace(name);
    const wanIp = this.#plug(ns, 'wan0', wan, wanOctet);
    const lan = { ns: this.#namespace(`lan${lanIndex}`), prefix: lanPrefix(lanIndex) };
    ip(['-n', lan.ns, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', lan.ns, 'link', 'set', 'br0', 'up']);
    this.#plug(ns, 'lan0', lan, 1);
    inNs(ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    const masquerade = kind === 'symmetric' ? 'masquerade random,fully-random' : 'masquerade';
    inNs(
      ns,
      ['nft', '-f', '-'],
      `table ip x0xnat {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "wan0" ${masquerade}; }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept;
    iifname "lan0" oifname "wan0" accept;
  }
  chain input { type filter hook input priority filter; policy accept; iifname "wan0" ct state new drop; }
}
`,
    );
    return { ns, wanIp, lan };
  }

  /** Runs a command inside `ns` and returns its stdout. */
  exec(ns: string, cmd: readonly string[]): string {
    return inNs(ns, cmd);
  }

  /** Namespaces this lab created and has not removed yet. */
  get namespaces(): readonly string[] {
    return this.#namespaces;
  }

  /** Removes every namespace of this lab (the agents inside must be gone). */
  teardown(): void {
    for (const ns of this.#namespaces.splice(0)) removeNamespace(ns);
    this.#prefix = '';
  }
}

function checkPrefix(prefix: string): void {
  const octets = prefix.split('.').map(Number);
  const inShared = octets.length === 3 && octets[0] === 100 && octets[1]! >= 64 && octets[1]! <= 127;
  if (!inShared || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    throw new RangeError(`lab prefix ${prefix} is not a /24 inside 100.64.0.0/10`);
  }
}

/**
 * Whether the tests of a file can run: true as root. Otherwise prints one
 * loud line and returns false (the file's tests are skipped), except in CI
 * (`CI` set), where it throws: the skip must never hide there.
 */
export function netnsAvailable(file: string): boolean {
  if (isRoot) return true;
  const line = `[netns] ${file}: NOT RUN, network-namespace tests need root (ip netns, nftables)`;
  if (process.env.CI !== undefined && process.env.CI !== '') {
    throw new Error(`${line}; CI runs as root, so this is a broken CI setup`);
  }
  console.warn(`\n${'!'.repeat(line.length)}\n${line}\n${'!'.repeat(line.length)}\n`);
  return false;
}

/**
 * A lab for the tests of this file. After each test (and after the file) the
 * agents are killed first (a namespace with a process inside outlives its
 * `ip netns del`), then every namespace is removed.
 */
export function useNetLab(): NetLab {
  const lab = new NetLab();
  const down = async (): Promise<void> => {
    await stopAll();
    lab.teardown();
  };
  afterEach(down);
  afterAll(down);
  return lab;
}
