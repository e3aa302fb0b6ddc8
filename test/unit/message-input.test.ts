import { describe, expect, it } from 'vitest';

import { InvalidTopicError, PayloadTooLargeError } from '../../src/errors.js';
import { checkTopic, encodePayload } from '../../src/message-input.js';

describe('checkTopic', () => {
  it('accepts a topic of exactly the byte limit, counting UTF-8 bytes', () => {
    expect(checkTopic('a'.repeat(8), 8)).toBe('a'.repeat(8));
    // "é" is one UTF-16 unit but two UTF-8 bytes.
    expect(checkTopic('éééé', 8)).toBe('éééé');
    expect(checkTopic('😀😀', 8)).toBe('😀😀');
  });

  it.each([
    ['an empty string', ''],
    ['a number', 42],
    ['undefined', undefined],
    ['one byte over the limit', 'a'.repeat(9)],
    ['over the limit only in UTF-8 bytes', 'ééééé'],
    ['a lone high surrogate', 'chat\ud83d'],
    ['a lone low surrogate', '\ude00chat'],
  ])('rejects %s', (_label, topic) => {
    expect(() => checkTopic(topic, 8)).toThrow(InvalidTopicError);
  });
});

describe('encodePayload', () => {
  it('encodes strings as UTF-8', () => {
    expect([...encodePayload('hé', 16)]).toStrictEqual([0x68, 0xc3, 0xa9]);
  });

  it('wraps a Uint8Array (or a slice of one) without copying', () => {
    const backing = new Uint8Array([0, 1, 2, 3, 4, 5]);
    const slice = backing.subarray(2, 5);
    const buffer = encodePayload(slice, 16);
    expect(buffer.buffer).toBe(backing.buffer);
    expect(buffer.byteOffset).toBe(2);
    expect([...buffer]).toStrictEqual([2, 3, 4]);
  });

  it('accepts exactly the limit and an empty payload', () => {
    expect(encodePayload(new Uint8Array(16), 16).byteLength).toBe(16);
    expect(encodePayload('', 16).byteLength).toBe(0);
  });

  it('rejects a payload over the limit with its size and the limit', () => {
    let caught: unknown;
    try {
      encodePayload('é'.repeat(9), 16); // 18 bytes
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PayloadTooLargeError);
    expect(caught).toMatchObject({ code: 'ERR_X0X_PAYLOAD_TOO_LARGE', size: 18, limit: 16 });
  });

  it.each([
    ['a number', 1],
    ['null', null],
    ['an ArrayBuffer', new ArrayBuffer(4)],
    ['an array of numbers', [1, 2]],
  ])('rejects %s with TypeError', (_label, data) => {
    expect(() => encodePayload(data, 16)).toThrow(TypeError);
  });
});
