// The API reference is built from the TSDoc of the public entry points
// (typedoc.json), with undocumented exports and broken {@link}s as errors.
// This runs the same conversion and validation as `npm run docs`, without
// writing any output, so a gap fails the unit tests and not only the docs
// build, which nobody runs before every commit.
import * as path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import type * as TypeDoc from 'typedoc' with { 'resolution-mode': 'import' };

const ROOT = path.join(__dirname, '..', '..');

describe('API reference (TypeDoc)', () => {
  let typedoc: typeof TypeDoc;
  let project: TypeDoc.ProjectReflection | undefined;
  /** What conversion and validation logged at warning level or above. */
  const messages: string[] = [];

  beforeAll(async () => {
    // TypeDoc is an ES module only; this test file is CommonJS.
    typedoc = (await import('typedoc')) as typeof TypeDoc;
    const { Application, Logger, LogLevel } = typedoc;

    const app = await Application.bootstrapWithPlugins({ options: path.join(ROOT, 'typedoc.json') });
    // Option errors (an unknown option, a bad entry point) are logged by the
    // bootstrap logger, before ours below takes over.
    if (app.logger.hasErrors()) throw new Error('typedoc.json failed to load; run `npm run docs` to see why');

    class Collect extends Logger {
      override log(message: string, level: TypeDoc.LogLevel): void {
        if (level >= LogLevel.Warn) messages.push(`${LogLevel[level]}: ${message}`);
      }
    }
    app.logger = new Collect();
    project = await app.convert();
    if (project !== undefined) app.validate(project);
  }, 60_000);

  it('documents every public export and resolves every link', () => {
    expect(project, messages.join('\n')).toBeDefined();
    // One message per undocumented symbol or broken link, so the failure
    // lists all of them rather than the first.
    expect(messages).toEqual([]);
  });

  // TypeDoc's own validation accepts a function whose summary is written
  // but whose parameters are not; the reference promises both.
  it('describes every parameter of every public signature', () => {
    const { ReflectionKind } = typedoc;
    const bare: string[] = [];
    for (const reflection of project?.getReflectionsByKind(ReflectionKind.SomeSignature) ?? []) {
      const signature = reflection as TypeDoc.SignatureReflection;
      // Members inherited from Error and the like are documented upstream.
      if (signature.inheritedFrom !== undefined || signature.parent.inheritedFrom !== undefined) continue;
      for (const parameter of signature.parameters ?? []) {
        if (!parameter.hasComment()) bare.push(`${signature.getFriendlyFullName()}(${parameter.name})`);
      }
    }
    expect(bare).toEqual([]);
  });
});
