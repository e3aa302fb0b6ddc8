// The native addon's error codes against the TypeScript classes, on the real
// addon: every Rust `CoreError` code has a class and every class that claims
// a native code has a Rust variant, and a real native failure arrives with
// `code` and its fields as properties (the message is never parsed).

import { describe, expect, it } from 'vitest';

import { GossipConfig } from '../../src/config.js';
import {
  BadKeyError,
  fromNative,
  InvalidConfigError,
  NATIVE_ERROR_CODES,
  NetworkError,
  PayloadTooLargeError,
  X0xError,
} from '../../src/errors.js';
import { loadBinding } from '../../src/native.js';
import { callPort, portCall } from '../../src/native-calls.js';

const binding = loadBinding();

/** What a native call threw or rejected with, unconverted. */
async function nativeFailure(fn: () => unknown): Promise<Error & Record<string, unknown>> {
  try {
    await fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('the native call did not fail');
}

describe('native error codes', () => {
  it('the addon lists exactly the codes TypeScript maps as native ones', () => {
    expect([...binding.errorCodes()].sort()).toStrictEqual([...NATIVE_ERROR_CODES].sort());
  });

  it.each([...NATIVE_ERROR_CODES])('%s maps to a class of its own', (code) => {
    const err = fromNative(Object.assign(new Error('m'), { code }));
    expect(err).toBeInstanceOf(X0xError);
    expect(err.code).toBe(code);
    if (code !== 'ERR_X0X_NETWORK') expect(err).not.toBeInstanceOf(NetworkError);
  });

  it('a synchronous throw carries the code, not a prefixed message', async () => {
    const raw = await nativeFailure(() => binding.NativeKeypair.fromBytes(Buffer.alloc(3)));
    expect(raw.code).toBe('ERR_X0X_BAD_KEY');
    expect(raw.message).not.toContain('ERR_X0X');
    expect(fromNative(raw)).toBeInstanceOf(BadKeyError);
  });

  it('PayloadTooLarge carries size and limit', async () => {
    const keypair = binding.NativeKeypair.generate();
    const raw = await nativeFailure(() => keypair.signRecord(1, Buffer.alloc(5000), 1, 2));
    expect(raw.code).toBe('ERR_X0X_PAYLOAD_TOO_LARGE');
    const err = fromNative(raw) as PayloadTooLargeError;
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect([err.size, err.limit]).toStrictEqual([5000, 4096]);
  });

  it('an async rejection carries the code and the config field', async () => {
    const keypair = binding.NativeKeypair.generate();
    const raw = await nativeFailure(() =>
      binding.NativeAgent.create(
        { bindAddr: '127.0.0.1:0', config: { ...new GossipConfig().toNative(), activeViewSize: 3 } },
        keypair,
        callPort(binding),
      ),
    );
    expect(raw.code).toBe('ERR_X0X_INVALID_CONFIG');
    expect(raw.field).toBe('activeViewSize');
    const err = fromNative(raw) as InvalidConfigError;
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect(err.field).toBe('activeViewSize');
  });

  it('a call settled through the call port carries the code, size and limit', async () => {
    const agent = await binding.NativeAgent.create(
      { bindAddr: '127.0.0.1:0', config: new GossipConfig().toNative() },
      binding.NativeKeypair.generate(),
      callPort(binding),
    );
    try {
      const raw = await nativeFailure(() =>
        portCall((id) => agent.publishCall('t', Buffer.alloc(binding.MAX_PAYLOAD_BYTES + 1), id)),
      );
      expect(raw).toMatchObject({
        code: 'ERR_X0X_PAYLOAD_TOO_LARGE',
        size: binding.MAX_PAYLOAD_BYTES + 1,
        limit: binding.MAX_PAYLOAD_BYTES,
      });
    } finally {
      await agent.close();
    }
  });
});
