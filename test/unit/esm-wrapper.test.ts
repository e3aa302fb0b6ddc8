// src/esm/index.mjs lists the public names by hand; this keeps that list in
// step with src/index.ts without loading the native addon.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

type TypeScript = typeof import('typescript');
const ts = createRequire(__filename)('typescript') as TypeScript;

const ROOT = path.join(__dirname, '..', '..');

function valueExportsOf(module: string): string[] {
  const entry = path.join(ROOT, 'src', module);
  const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (!config) throw new Error('cannot read tsconfig.json');
  const program = ts.createProgram([entry], config.options);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`cannot resolve src/${module}`);
  return checker
    .getExportsOfModule(moduleSymbol)
    .filter((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      return (target.flags & ts.SymbolFlags.Value) !== 0;
    })
    .map((symbol) => symbol.name)
    .sort();
}

function namesInWrapper(wrapper: string): string[] {
  const text = readFileSync(path.join(ROOT, 'src', 'esm', wrapper), 'utf8');
  const block = /export const \{([^}]*)\} = cjs;/.exec(text)?.[1];
  if (block === undefined) throw new Error(`src/esm/${wrapper} has no \`export const { ... } = cjs;\``);
  return block
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0)
    .sort();
}

describe('ESM wrapper', () => {
  it('re-exports exactly the runtime values of src/index.ts', () => {
    const expected = valueExportsOf('index.ts');
    expect(expected).toContain('Agent');
    expect(namesInWrapper('index.mjs')).toStrictEqual(expected);
  });

  it('re-exports exactly the runtime values of src/testnet.ts as @x0x/node/testing', () => {
    const expected = valueExportsOf('testnet.ts');
    expect(expected).toContain('createTestnet');
    expect(namesInWrapper('testnet.mjs')).toStrictEqual(expected);
  });

  it('re-exports exactly the runtime values of src/prom-client.ts as @x0x/node/prom-client', () => {
    const expected = valueExportsOf('prom-client.ts');
    expect(expected).toContain('registerX0xMetrics');
    expect(namesInWrapper('prom-client.mjs')).toStrictEqual(expected);
  });
});
