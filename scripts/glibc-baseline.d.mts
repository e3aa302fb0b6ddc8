// Types for glibc-baseline.mjs, so test/unit can call it under the strict
// tsconfig without allowJs.

/** Compares dotted versions numerically: -1, 0 or 1. */
export declare function compareVersions(a: string, b: string): number;

/** The dynamic symbols in `objdump -T` output; version '' when a symbol has none. */
export declare function dynamicSymbols(
  objdumpText: string,
): { symbol: string; version: string; undefined: boolean; weak: boolean }[];

/**
 * The newest GLIBC version needed, the symbols above `baseline` (or
 * GLIBC_PRIVATE), and the strong undefined symbols with no version.
 */
export declare function checkBaseline(
  objdumpText: string,
  baseline: string,
): { newest: string | undefined; tooNew: { symbol: string; version: string }[]; unversioned: string[] };
