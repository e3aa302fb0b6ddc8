/**
 * Test hooks: build, tamper with and inject raw x0x frames to prove that
 * receivers drop forged, tampered and repeated messages. Not exported from
 * the package entry point and not a stable API; the cross-process tests load
 * it from `dist/cjs/testing.js`.
 * @packageDocumentation
 */
import type { Agent } from './agent.js';
import { coreOf } from './core-registry.js';
import { callNative, callNativeSync } from './errors.js';
import { MAX_TOPIC_BYTES } from './limits.js';
import { checkTopic } from './message-input.js';

/** A signed envelope for `topic` carrying `payload`, not published. */
export function sealFrame(agent: Agent, topic: string, payload: Uint8Array): Buffer {
  const native = coreOf(agent).use();
  return callNativeSync(() => native.sealFrame(checkTopic(topic, MAX_TOPIC_BYTES), Buffer.from(payload)));
}

/** `frame` (one of this agent's) signed again: same message id, different bytes. */
export function resealFrame(agent: Agent, topic: string, frame: Uint8Array): Buffer {
  const native = coreOf(agent).use();
  return callNativeSync(() => native.resealFrame(checkTopic(topic, MAX_TOPIC_BYTES), Buffer.from(frame)));
}

/** Gossips `frame` on `topic` exactly as given, with no envelope around it. */
export async function publishRawFrame(agent: Agent, topic: string, frame: Uint8Array): Promise<void> {
  const native = coreOf(agent).use();
  await callNative(() => native.publishRaw(checkTopic(topic, MAX_TOPIC_BYTES), Buffer.from(frame)));
}

/**
 * Counters of the layers under pub/sub (transport frames and disconnects,
 * Plumtree's per-peer timeouts and admission drops, ant-quic's inbound
 * queue), by name, for finding where a message went missing. The set of
 * names may change between versions.
 */
export function diagnostics(agent: Agent): Record<string, number> {
  const native = coreOf(agent).use();
  return callNativeSync(() => native.diagnostics());
}
