/**
 * Turns an agent's membership and connection events into log records, for
 * the targets someone listens to. A target nobody listens to costs nothing:
 * its event stream is never opened.
 *
 * @internal
 * @module
 */

import type { Agent } from './agent.js';
import type { AgentLog, LogLevel } from './logging.js';
import type { MembershipEvent } from './membership.js';

function membershipLevel(e: MembershipEvent): LogLevel {
  if (e.type === 'peer-suspected') return 'warn';
  if (e.type === 'peer-left' && e.reason === 'failed') return 'warn';
  return 'info';
}

async function drain<T>(events: AsyncIterable<T>, each: (event: T) => void): Promise<void> {
  try {
    for await (const event of events) each(event);
  } catch {
    // The streams end (or reject with ClosedError) when the agent closes.
  }
}

/** Starts the event loops the log needs; they end with the agent. */
export function logAgentEvents(agent: Agent, log: AgentLog): void {
  if (log.enabled('x0x:membership')) {
    void drain(agent.membership.events(), (e) => {
      if (e.type === 'lagged') {
        log.emit('warn', 'x0x:membership', 'lagged', { missed: e.missed });
        return;
      }
      const fields = { peer: e.peer.peerId, addr: e.peer.addr };
      log.emit(membershipLevel(e), 'x0x:membership', e.type, e.type === 'peer-left' ? { ...fields, reason: e.reason } : fields);
    });
  }
  if (log.enabled('x0x:transport')) {
    void drain(agent.transport.events(), (e) => {
      if (e.type === 'lagged') {
        log.emit('warn', 'x0x:transport', 'lagged', { missed: e.missed });
        return;
      }
      log.emit('debug', 'x0x:transport', e.type, e.addr === undefined ? { peer: e.peerId } : { peer: e.peerId, addr: e.addr });
    });
  }
}
