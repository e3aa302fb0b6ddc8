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

/** This agent's own signed address record, as FOAF answers and rendezvous holders carry it. */
export function ownAddrRecord(agent: Agent): Buffer {
  const native = coreOf(agent).use();
  return callNativeSync(() => native.ownRecord());
}

/** ML-DSA-65 public key bytes; an address record embeds its signer's key after a 1-byte version. */
const PUBLIC_KEY_LEN = 1952;

/**
 * A forged address record: it claims to be `victimRecord`'s agent (it embeds
 * that agent's public key) and lists `addrs`, but `agent` signed it. Holders
 * and askers must refuse it.
 */
export function forgeAddrRecord(agent: Agent, victimRecord: Uint8Array, addrs: string[]): Buffer {
  const native = coreOf(agent).use();
  const forged = Buffer.from(callNativeSync(() => native.signAddrRecord(addrs, 60_000)));
  forged.set(victimRecord.subarray(1, 1 + PUBLIC_KEY_LEN), 1);
  return forged;
}

/** Sends `record` as given to the rendezvous holders of `agentId`; each holder's answer. */
export async function storeAtHolders(agent: Agent, agentId: string, record: Uint8Array): Promise<Array<{ agentId: string; outcome: string }>> {
  const native = coreOf(agent).use();
  const holders = agent.rendezvous.holdersFor(agentId).map((h) => ({ agentId: h.agentId, addrs: [...h.addrs] }));
  return callNative(() => native.rendezvousStore(holders, Buffer.from(record), 10_000));
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
