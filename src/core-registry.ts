// Maps each Agent to its AgentCore so internal modules (the test hooks in
// testing.ts) can reach the native handle without widening the public API.
import type { AgentCore } from './agent-core.js';
import { invalidArgType } from './arg-errors.js';

const cores = new WeakMap<object, AgentCore>();

/** @internal */
export function registerCore(agent: object, core: AgentCore): void {
  cores.set(agent, core);
}

/** @internal */
export function coreOf(agent: object): AgentCore {
  const core = cores.get(agent);
  if (core === undefined) throw invalidArgType('not an x0x Agent');
  return core;
}
