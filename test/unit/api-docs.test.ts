// The API reference is built from the TSDoc of the public entry points
// (typedoc.json), with undocumented exports and broken {@link}s as errors.
// This runs the same conversion and validation as `npm run docs`, without
// writing any output, so a gap fails the unit tests and not only the docs
// build, which nobody runs before every commit.
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import type * as TypeDoc from 'typedoc' with { 'resolution-mode': 'import' };

const ROOT = path.join(__dirname, '..', '..');

describe('API reference (TypeDoc)', () => {
  it('documents every public export and resolves every link', async () => {
    // TypeDoc is an ES module only; this test file is CommonJS.
    const typedoc = (await import('typedoc')) as typeof TypeDoc;
    const { Application, Logger, LogLevel } = typedoc;

    const app = await Application.bootstrapWithPlugins({ options: path.join(ROOT, 'typedoc.json') });
    // Option errors (an unknown option, a bad entry point) are logged by the
    // bootstrap logger, before ours below takes over.
    expect(app.logger.hasErrors(), 'typedoc.json failed to load; run `npm run docs` to see why').toBe(false);

    const messages: string[] = [];
    class Collect extends Logger {
      override log(message: string, level: TypeDoc.LogLevel): void {
        if (level >= LogLevel.Warn) messages.push(`${LogLevel[level]}: ${message}`);
      }
    }
    app.logger = new Collect();

    const project = await app.convert();
    expect(project, messages.join('\n')).toBeDefined();
    if (project !== undefined) app.validate(project);

    // One message per undocumented symbol or broken link, so the failure
    // lists all of them rather than the first.
    expect(messages).toEqual([]);
  }, 60_000);
});
