import { describe, expect, it } from 'vitest';

import { checkPeerAddress, checkSocketAddress, resolvePeerAddresses } from '../../src/address.js';
import { BadAddressError } from '../../src/errors.js';

describe('checkSocketAddress', () => {
  it.each(['127.0.0.1:0', '0.0.0.0:9000', '10.1.2.3:65535', '[::1]:0', '[::]:443', '[fe80::1]:7'])(
    'accepts %s for binding',
    (addr) => {
      expect(checkSocketAddress(addr, 'bind address', true)).toBe(addr);
    },
  );

  it.each([
    ['a host name', 'localhost:9000'],
    ['no port', '127.0.0.1'],
    ['an empty port', '127.0.0.1:'],
    ['a port above 65535', '127.0.0.1:65536'],
    ['a signed port', '127.0.0.1:+80'],
    ['a hex port', '127.0.0.1:0x50'],
    ['an unbracketed IPv6', '::1:9000'],
    ['a bracketed IPv4', '[127.0.0.1]:9000'],
    ['an invalid IPv4', '256.0.0.1:9000'],
    ['surrounding spaces', ' 127.0.0.1:9000'],
    ['an empty string', ''],
    ['a number', 9000],
  ])('rejects %s', (_label, addr) => {
    expect(() => checkSocketAddress(addr, 'bind address', true)).toThrow(BadAddressError);
  });

  it('allows port 0 only where asked (binding, not dialling)', () => {
    expect(() => checkSocketAddress('127.0.0.1:0', 'bootstrap peer', false)).toThrow(BadAddressError);
    expect(checkSocketAddress('127.0.0.1:1', 'bootstrap peer', false)).toBe('127.0.0.1:1');
  });

  it('names the role and the value in the message', () => {
    expect(() => checkSocketAddress('nope', 'bootstrap peer', false)).toThrow(/bootstrap peer.*"nope"/);
  });
});

describe('checkPeerAddress / resolvePeerAddresses', () => {
  it.each(['127.0.0.1:9', '[::1]:9', 'localhost:9', 'seed.example.org:5483', 'a-b.c:65535', 'seed.example.org.:1'])(
    'accepts %s as a peer',
    (addr) => {
      expect(checkPeerAddress(addr, 'bootstrap peer')).toBe(addr);
    },
  );

  it.each(['seed.example.org:0', 'seed.example.org', '-bad.example:9', 'bad_name.example:9', '1.2.3:9', 'a..b:9', 'x:99999', ''])(
    'rejects %s, naming it',
    (addr) => {
      let caught: unknown;
      try {
        checkPeerAddress(addr, 'bootstrap peer');
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(BadAddressError);
      expect((caught as BadAddressError).address).toBe(addr);
      expect((caught as BadAddressError).message).toContain(JSON.stringify(addr));
    },
  );

  it('keeps literals and resolves a name from /etc/hosts to every address it has', async () => {
    const out = await resolvePeerAddresses(['10.0.0.1:9', 'localhost:5483'], 'bootstrap peer');
    expect(out[0]).toBe('10.0.0.1:9');
    expect(out.slice(1)).toContain('127.0.0.1:5483');
    expect(out.slice(1).every((a) => a.endsWith(':5483'))).toBe(true);
  });
});
