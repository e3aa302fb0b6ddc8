import { describe, expect, it } from 'vitest';

import { EventChannel } from '../../src/event-channel.js';
import { lagged, type LaggedEvent } from '../../src/events.js';

type Item = { type: 'n'; n: number } | LaggedEvent;
const item = (n: number): Item => ({ type: 'n', n });

describe('EventChannel', () => {
  it('hands events out in order', async () => {
    const channel = new EventChannel<Item>(lagged, 4);
    for (const n of [1, 2, 3]) channel.push(item(n));
    expect([await channel.next(), await channel.next(), await channel.next()]).toStrictEqual([item(1), item(2), item(3)]);
  });

  it('a slow reader gets one lagged event with the count it missed, then the oldest event still held', async () => {
    const channel = new EventChannel<Item>(lagged, 4);
    for (let n = 1; n <= 7; n += 1) channel.push(item(n));
    expect(channel.dropped).toBe(3);
    const got: Item[] = [];
    for (let i = 0; i < 5; i += 1) got.push((await channel.next()) as Item);
    expect(got).toStrictEqual([{ type: 'lagged', missed: 3 }, item(4), item(5), item(6), item(7)]);
    // Caught up: the next lag is counted from zero.
    for (let n = 8; n <= 13; n += 1) channel.push(item(n));
    expect(await channel.next()).toStrictEqual({ type: 'lagged', missed: 2 });
    expect(await channel.next()).toStrictEqual(item(10));
  });

  it('keeps memory bounded under a flood of 100 000 events', async () => {
    const channel = new EventChannel<Item>(lagged, 1_000);
    for (let n = 0; n < 100_000; n += 1) channel.push(item(n));
    expect(await channel.next()).toStrictEqual({ type: 'lagged', missed: 99_000 });
    expect(await channel.next()).toStrictEqual(item(99_000));
  });

  it('wakes a waiting reader and ends with null once closed', async () => {
    const channel = new EventChannel<Item>(lagged, 4);
    const pending = channel.next();
    channel.push(item(1));
    expect(await pending).toStrictEqual(item(1));
    const waiting = channel.next();
    channel.close();
    expect(await waiting).toBeNull();
    channel.push(item(2));
    expect(await channel.next()).toBeNull();
  });
});
