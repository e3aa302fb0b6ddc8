'use strict';
// Test hooks: build, tamper with and inject raw x0x frames to prove that
// receivers drop forged, tampered and repeated messages. Test code only:
// nothing here is in the package (it reaches the built package's internals
// in dist/cjs/), and sealFrame, resealFrame and publishRawFrame need the test
// addon (`node native/build.cjs --test-hooks`, loaded through
// X0X_NATIVE_LIBRARY_PATH; see testAddonPath()), because the shipped addon
// does not export them.

const path = require('node:path');

const dist = path.join(__dirname, '..', '..', 'dist', 'cjs');
const { coreOf } = require(path.join(dist, 'core-registry.js'));
const { callNative, callNativeSync } = require(path.join(dist, 'errors.js'));
const { MAX_TOPIC_BYTES } = require(path.join(dist, 'limits.js'));
const { checkTopic } = require(path.join(dist, 'message-input.js'));
const { testAddonPath } = require('../../native/build.cjs');

function hook(native, name) {
  if (typeof native[name] !== 'function') {
    throw new Error(
      `${name} is a test hook: load the test addon (X0X_NATIVE_LIBRARY_PATH=${testAddonPath()}, built by \`node native/build.cjs --test-hooks\`)`,
    );
  }
  return native[name].bind(native);
}

/** A signed envelope for `topic` carrying `payload`, not published. */
function sealFrame(agent, topic, payload) {
  const seal = hook(coreOf(agent).use(), 'sealFrame');
  return callNativeSync(() => seal(checkTopic(topic, MAX_TOPIC_BYTES), Buffer.from(payload)));
}

/** `frame` (one of this agent's) signed again: same message id, different bytes. */
function resealFrame(agent, topic, frame) {
  const reseal = hook(coreOf(agent).use(), 'resealFrame');
  return callNativeSync(() => reseal(checkTopic(topic, MAX_TOPIC_BYTES), Buffer.from(frame)));
}

/** Gossips `frame` on `topic` exactly as given, with no envelope around it. */
async function publishRawFrame(agent, topic, frame) {
  const publishRaw = hook(coreOf(agent).use(), 'publishRaw');
  await callNative(() => publishRaw(checkTopic(topic, MAX_TOPIC_BYTES), Buffer.from(frame)));
}

/** This agent's own signed address record, as FOAF answers and rendezvous holders carry it. */
function ownAddrRecord(agent) {
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
function forgeAddrRecord(agent, victimRecord, addrs) {
  const native = coreOf(agent).use();
  const forged = Buffer.from(callNativeSync(() => native.signAddrRecord(addrs, 60_000)));
  forged.set(victimRecord.subarray(1, 1 + PUBLIC_KEY_LEN), 1);
  return forged;
}

/** Sends `record` as given to the rendezvous holders of `agentId`; each holder's answer. */
async function storeAtHolders(agent, agentId, record) {
  const native = coreOf(agent).use();
  const holders = agent.rendezvous.holdersFor(agentId).map((h) => ({ agentId: h.agentId, addrs: [...h.addrs] }));
  return callNative(() => native.rendezvousStore(holders, Buffer.from(record), 10_000));
}

/**
 * Counters of the layers under pub/sub (transport frames and disconnects,
 * Plumtree's per-peer timeouts and admission drops, ant-quic's inbound
 * queue), by name, for finding where a message went missing.
 */
function diagnostics(agent) {
  const native = coreOf(agent).use();
  return callNativeSync(() => native.diagnostics());
}

module.exports = {
  sealFrame,
  resealFrame,
  publishRawFrame,
  ownAddrRecord,
  forgeAddrRecord,
  storeAtHolders,
  diagnostics,
};
