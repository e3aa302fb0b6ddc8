// scripts/glibc-baseline.mjs, which the release workflow runs on each
// linux-gnu addon, judged on objdump -T lines as binutils prints them (taken
// from a build on a glibc 2.39 host, which needs GLIBC_2.34).
import { describe, expect, it } from 'vitest';

// An ES module script: imported dynamically from this CommonJS-typed file.
const load = () => import('../../scripts/glibc-baseline.mjs');

const HEADER = `
prebuilds/linux-x64/x0x.napi.glibc.node:     file format elf64-x86-64

DYNAMIC SYMBOL TABLE:
`;
const OLD = [
  '0000000000000000  w   DF *UND*\t0000000000000000 (GLIBC_2.2.5) __cxa_finalize',
  '0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.2.5) malloc',
  '0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.14)  memcpy',
  '0000000000000000      DF *UND*\t0000000000000000 (GCC_3.0)    _Unwind_Resume',
  '0000000000000000  w   D  *UND*\t0000000000000000              __gmon_start__',
  '0000000000000000  w   D  *UND*\t0000000000000000              OPENSSL_memory_alloc',
  '00000000003ad7a0 g    DF .text\t0000000000000104  Base        napi_register_module_v1',
];
const NEW = [
  '0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.34) pthread_create',
  '0000000000000000  w   DF *UND*\t0000000000000000 (GLIBC_2.30) gettid',
  '0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.29) exp',
];

describe('scripts/glibc-baseline.mjs', () => {
  it('compares versions numerically, not as text', async () => {
    const script = await load();
    expect(script.compareVersions('2.17', '2.2.5')).toBe(1);
    expect(script.compareVersions('2.2.5', '2.17')).toBe(-1);
    expect(script.compareVersions('2.17', '2.17')).toBe(0);
    expect(script.compareVersions('2.28', '2.28.0')).toBe(0);
  });

  it('reads every symbol line, with or without a version, defined or imported, weak or not', async () => {
    const script = await load();
    const symbols = script.dynamicSymbols(HEADER + OLD.join('\n'));
    expect(symbols).toHaveLength(OLD.length);
    expect(symbols[0]).toEqual({ symbol: '__cxa_finalize', version: 'GLIBC_2.2.5', undefined: true, weak: true });
    expect(symbols[2]).toEqual({ symbol: 'memcpy', version: 'GLIBC_2.14', undefined: true, weak: false });
    expect(symbols[4]).toEqual({ symbol: '__gmon_start__', version: '', undefined: true, weak: true });
    expect(symbols[6]).toEqual({ symbol: 'napi_register_module_v1', version: 'Base', undefined: false, weak: false });
  });

  it('passes an object within the baseline and names its newest glibc version', async () => {
    const script = await load();
    expect(script.checkBaseline(HEADER + OLD.join('\n'), '2.17')).toEqual({ newest: '2.14', tooNew: [], unversioned: [] });
  });

  it('lists each symbol above the baseline, weak ones included', async () => {
    const script = await load();
    const result = script.checkBaseline(HEADER + [...OLD, ...NEW].join('\n'), '2.17');
    expect(result.newest).toBe('2.34');
    expect(result.tooNew).toEqual([
      { symbol: 'pthread_create', version: '2.34' },
      { symbol: 'gettid', version: '2.30' },
      { symbol: 'exp', version: '2.29' },
    ]);
    expect(script.checkBaseline(HEADER + [...OLD, ...NEW].join('\n'), '2.34').tooNew).toEqual([]);
  });

  it('flags GLIBC_PRIVATE and a strong import that no library versioned', async () => {
    const script = await load();
    const lines = [
      ...OLD,
      '0000000000000000      DF *UND*\t0000000000000000 (GLIBC_PRIVATE) __libc_stack_end',
      '0000000000000000      DF *UND*\t0000000000000000              statx',
    ];
    const result = script.checkBaseline(HEADER + lines.join('\n'), '2.28');
    expect(result.tooNew).toEqual([{ symbol: '__libc_stack_end', version: 'PRIVATE' }]);
    expect(result.unversioned).toEqual(['statx']);
  });
});
