import { describe, expect, it } from 'vitest';

import {
  AbortError,
  AlreadyBuiltError,
  BadAddressError,
  BadKeyError,
  callNative,
  callNativeSync,
  ClosedError,
  fromNative,
  InvalidConfigError,
  InvalidTopicError,
  isX0xError,
  JoinFailedError,
  KeyFileError,
  NativeMissingError,
  NetworkError,
  PayloadTooLargeError,
  PeerDependencyMissingError,
  X0xError,
} from '../../src/errors.js';

const TABLE = [
  ['ERR_X0X_INVALID_CONFIG', InvalidConfigError, 'InvalidConfigError'],
  ['ERR_X0X_CLOSED', ClosedError, 'ClosedError'],
  ['ERR_X0X_PAYLOAD_TOO_LARGE', PayloadTooLargeError, 'PayloadTooLargeError'],
  ['ERR_X0X_INVALID_TOPIC', InvalidTopicError, 'InvalidTopicError'],
  ['ERR_X0X_BAD_ADDRESS', BadAddressError, 'BadAddressError'],
  ['ERR_X0X_JOIN_FAILED', JoinFailedError, 'JoinFailedError'],
  ['ERR_X0X_KEY_FILE', KeyFileError, 'KeyFileError'],
  ['ERR_X0X_BAD_KEY', BadKeyError, 'BadKeyError'],
  ['ERR_X0X_ABORTED', AbortError, 'AbortError'],
  ['ERR_X0X_NATIVE_MISSING', NativeMissingError, 'NativeMissingError'],
  ['ERR_X0X_ALREADY_BUILT', AlreadyBuiltError, 'AlreadyBuiltError'],
  ['ERR_X0X_NETWORK', NetworkError, 'NetworkError'],
] as const;

/** An error shaped as the addon throws it: `code` and fields as properties. */
function nativeError(code: string, message: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, ...fields });
}

describe('fromNative', () => {
  it.each(TABLE)('maps %s to %o', (code, Class, name) => {
    const native = nativeError(code, 'something went wrong');
    const err = fromNative(native);
    expect(err).toBeInstanceOf(Class);
    expect(err).toBeInstanceOf(X0xError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    expect(err.name).toBe(name);
    expect(err.message).toBe('something went wrong');
    expect(err.cause).toBe(native);
  });

  it('maps an unknown code to NetworkError, keeping the whole message', () => {
    const native = nativeError('ERR_X0X_SOMETHING_NEW', 'the core grew a code');
    const err = fromNative(native);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err.code).toBe('ERR_X0X_NETWORK');
    expect(err.message).toBe('the core grew a code');
    expect(err.cause).toBe(native);
  });

  it('never reads a code out of the message text', () => {
    const err = fromNative(new Error('ERR_X0X_CLOSED: agent is closed'));
    expect(err).toBeInstanceOf(NetworkError);
    expect(err.message).toBe('ERR_X0X_CLOSED: agent is closed');
  });

  it('copies the structured fields the native side attached', () => {
    const tooLarge = fromNative(
      nativeError('ERR_X0X_PAYLOAD_TOO_LARGE', 'payload of 9 bytes exceeds the limit of 4 bytes', { size: 9, limit: 4 }),
    );
    expect(tooLarge).toBeInstanceOf(PayloadTooLargeError);
    expect([(tooLarge as PayloadTooLargeError).size, (tooLarge as PayloadTooLargeError).limit]).toStrictEqual([9, 4]);
    const config = fromNative(nativeError('ERR_X0X_INVALID_CONFIG', 'foafTtl must be …', { field: 'foafTtl' }));
    expect((config as InvalidConfigError).field).toBe('foafTtl');
  });

  it.each([
    ['an Error without a code', new Error('socket exploded'), 'socket exploded'],
    ['a thrown string', 'plain string', 'plain string'],
    ['undefined', undefined, 'undefined'],
  ])('maps %s to NetworkError', (_label, thrown, message) => {
    const err = fromNative(thrown);
    expect(err).toBeInstanceOf(NetworkError);
    expect(err.message).toBe(message);
    expect(err.cause).toBe(thrown);
  });

  it('keeps multi-line native messages whole', () => {
    const err = fromNative(nativeError('ERR_X0X_JOIN_FAILED', 'no seed answered\ncaused by: timeout'));
    expect(err).toBeInstanceOf(JoinFailedError);
    expect(err.message).toBe('no seed answered\ncaused by: timeout');
  });

  it('returns an X0xError unchanged', () => {
    const err = new ClosedError();
    expect(fromNative(err)).toBe(err);
  });

  it('leaves figures it cannot know undefined', () => {
    const err = fromNative(nativeError('ERR_X0X_PAYLOAD_TOO_LARGE', 'too big')) as PayloadTooLargeError;
    expect(err.size).toBeUndefined();
    expect(err.limit).toBeUndefined();
    expect((fromNative(nativeError('ERR_X0X_INVALID_CONFIG', 'bad')) as InvalidConfigError).field).toBeUndefined();
  });
});

describe('error classes', () => {
  it('carry their extra fields', () => {
    const tooLarge = new PayloadTooLargeError('m', { size: 10, limit: 5 });
    expect([tooLarge.size, tooLarge.limit]).toStrictEqual([10, 5]);
    expect(new InvalidConfigError('m', { field: 'foafTtl' }).field).toBe('foafTtl');
  });

  it('PeerDependencyMissingError names the package to install', () => {
    const cause = new Error("Cannot find module 'prom-client'");
    const err = new PeerDependencyMissingError('prom-client', 'install prom-client', { cause });
    expect(err).toBeInstanceOf(X0xError);
    expect([err.code, err.name, err.dependency, err.cause]).toStrictEqual([
      'ERR_X0X_PEER_DEPENDENCY_MISSING',
      'PeerDependencyMissingError',
      'prom-client',
      cause,
    ]);
    expect(isX0xError(err, 'ERR_X0X_PEER_DEPENDENCY_MISSING')).toBe(true);
  });

  it('AbortError follows the DOM naming convention and keeps the reason', () => {
    const reason = new Error('user gave up');
    const err = new AbortError(undefined, { cause: reason });
    expect(err.name).toBe('AbortError');
    expect(err.code).toBe('ERR_X0X_ABORTED');
    expect(err.cause).toBe(reason);
  });

  it('isX0xError checks class and, optionally, code', () => {
    expect(isX0xError(new ClosedError())).toBe(true);
    expect(isX0xError(new ClosedError(), 'ERR_X0X_CLOSED')).toBe(true);
    expect(isX0xError(new ClosedError(), 'ERR_X0X_NETWORK')).toBe(false);
    expect(isX0xError(new Error('ERR_X0X_CLOSED: x'))).toBe(false);
  });
});

describe('callNative / callNativeSync', () => {
  it('convert rejections, sync throws and throws', async () => {
    await expect(callNative(() => Promise.reject(nativeError('ERR_X0X_CLOSED', 'gone')))).rejects.toBeInstanceOf(
      ClosedError,
    );
    await expect(
      callNative(() => {
        throw nativeError('ERR_X0X_BAD_KEY', 'nope');
      }),
    ).rejects.toBeInstanceOf(BadKeyError);
    expect(() =>
      callNativeSync(() => {
        throw nativeError('ERR_X0X_KEY_FILE', 'missing');
      }),
    ).toThrow(KeyFileError);
  });

  it('pass results through', async () => {
    await expect(callNative(() => Promise.resolve(42))).resolves.toBe(42);
    expect(callNativeSync(() => 'id')).toBe('id');
  });
});
