// Keys on the real addon: what the unit tests' stand-in cannot say (it
// derives no id and reads no key file). Round trips, the file mode, and
// which class each bad key or key file fails with.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Agent, AgentKeypair, BadKeyError, isAgentId, KeyFileError } from '../../src/index.js';

/** ML-DSA-65 public key bytes. */
const PUBLIC_KEY_LEN = 1952;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'x0x-identity-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const mode = (file: string): number => statSync(file).mode & 0o777;

describe('AgentKeypair', () => {
  it('round-trips through bytes and a 0600 file with the same id; corrupt bytes and a missing file fail by class', () => {
    const keypair = AgentKeypair.generate();
    expect(isAgentId(keypair.agentId)).toBe(true);
    expect(keypair.publicKey.byteLength).toBe(PUBLIC_KEY_LEN);
    expect(AgentKeypair.generate().agentId).not.toBe(keypair.agentId);

    const bytes = keypair.toBytes();
    expect(AgentKeypair.fromBytes(bytes).agentId).toBe(keypair.agentId);
    const file = path.join(dir, 'agent.key');
    keypair.save(file);
    if (process.platform !== 'win32') expect(mode(file)).toBe(0o600);
    expect(AgentKeypair.load(file).agentId).toBe(keypair.agentId);

    const corrupt = new Uint8Array(bytes);
    corrupt[100]! ^= 1;
    expect(() => AgentKeypair.fromBytes(corrupt)).toThrow(BadKeyError);
    expect(() => AgentKeypair.fromBytes(bytes.subarray(0, 10))).toThrow(BadKeyError);
    expect(() => AgentKeypair.load(path.join(dir, 'missing'))).toThrow(KeyFileError);
  });
});

describe('AgentBuilder.withKeyFile', () => {
  it('creates the key file once (0600) and builds the same agent id from it again', async () => {
    const file = path.join(dir, 'agent.key');
    let first: string;
    {
      await using agent = await Agent.builder().withKeyFile(file).build();
      first = agent.agentId;
    }
    if (process.platform !== 'win32') expect(mode(file)).toBe(0o600);
    const saved = readFileSync(file);
    {
      await using agent = await Agent.builder().withKeyFile(file).build();
      expect(agent.agentId).toBe(first);
    }
    expect(readFileSync(file).equals(saved), 'reused, not rewritten').toBe(true);
  });

  it('fails on a corrupt key file with KeyFileError and leaves the file as it was', async () => {
    const file = path.join(dir, 'agent.key');
    writeFileSync(file, 'garbage!');
    await expect(Agent.builder().withKeyFile(file).build()).rejects.toBeInstanceOf(KeyFileError);
    expect(readFileSync(file, 'utf8')).toBe('garbage!');
  });
});
