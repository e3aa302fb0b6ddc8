/**
 * A key file as `AgentBuilder.withKeyFile` and the `x0x` command line use it:
 * load the identity when the file exists, otherwise create it.
 *
 * @internal
 * @module
 */

import { stat } from 'node:fs/promises';

import { KeyFileError } from './errors.js';
import { AgentKeypair } from './identity.js';

/** A keypair from a key file, and whether the file was just written. */
export interface KeyFileResult {
  readonly keypair: AgentKeypair;
  /** True when the file did not exist and was written now (mode 0600). */
  readonly created: boolean;
}

/**
 * Loads the keypair in `path`, or generates one and saves it there (mode
 * 0600) when the file does not exist. A corrupt file is an error, never
 * overwritten.
 *
 * @throws {@link KeyFileError} (`ERR_X0X_KEY_FILE`) when the file cannot be read, written or decoded
 */
export async function loadOrCreateKeyFile(path: string): Promise<KeyFileResult> {
  if (await fileExists(path)) return { keypair: AgentKeypair.load(path), created: false };
  const keypair = AgentKeypair.generate();
  keypair.save(path);
  return { keypair, created: true };
}

/**
 * Distinguishes "no file yet" (create one) from "cannot look" (fail):
 * treating every error as absence would overwrite an identity we could not read.
 */
async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new KeyFileError(`cannot access key file ${path}: ${(err as Error).message}`, { cause: err });
  }
}
