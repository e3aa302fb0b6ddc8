/**
 * `x0x node`: a long-running agent, e.g. a public bootstrap or coordinator.
 *
 * @internal
 * @module
 */

import type { Agent } from '../agent.js';
import { AbortError } from '../errors.js';
import type { MembershipEvent } from '../membership.js';
import { addressFlag, integerFlag, networkSettings, NETWORK_OPTIONS, parse, positionals } from './args.js';
import { buildAgent } from './build-agent.js';
import type { Io } from './io.js';
import { loadX0x } from './load.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { onShutdownSignal } from './signals.js';
import { ExitCode, UsageError } from './usage.js';

/** The usage text of `x0x node`. */
export const NODE_USAGE = `Usage: x0x node [options]

Runs one agent until SIGINT or SIGTERM, then leaves the network gracefully
and exits 0 (a second signal kills it at once). Without --bootstrap it
starts a new network that others join through its address.

On stdout, once each: "id <agent id>", "listen <ip:port>" per bound
address, "advertise <ip:port>" per address other agents are told to dial,
"metrics <url>" with --metrics-port, then "ready" after joining. Membership
changes (peer-joined, peer-suspected, peer-left) are logged on stderr.

Options:
  --bind ADDR          local ip:port to bind (default 127.0.0.1:0: this machine only).
                       Use e.g. 0.0.0.0:9000 and a fixed port for a public node
  --announce ADDR      ip:port others should dial (e.g. a port forward), advertised
                       instead of the addresses found; repeatable
  --bootstrap ADDR     ip:port or host:port of an agent to join through; repeatable
  --key FILE           identity file, created (mode 0600) if absent, so the id survives
                       restarts (default: a new identity each start)
  --data-dir DIR       keep the bootstrap cache (peers seen before) in DIR
  --coordinator        advertise this node as a coordinator (config coordinator: true)
  --config FILE        gossip settings as JSON, the fields of withConfig()
  --metrics-port PORT  serve Prometheus metrics at http://127.0.0.1:PORT/metrics
                       (0 picks a free port; printed on stdout)
  -h, --help           show this help`;

/** Runs `x0x node`. */
export async function nodeCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals: rest } = parse(
    argv,
    {
      ...NETWORK_OPTIONS,
      announce: { type: 'string', multiple: true },
      'data-dir': { type: 'string' },
      coordinator: { type: 'boolean', default: false },
      'metrics-port': { type: 'string' },
    },
    NODE_USAGE,
  );
  if (values.help) {
    io.out(NODE_USAGE);
    return ExitCode.ok;
  }
  positionals(rest, [], NODE_USAGE);
  const settings = networkSettings(values, NODE_USAGE);
  const announce = (values.announce ?? []).map((addr) => addressFlag('announce', addr, false, NODE_USAGE));
  const metricsPort =
    values['metrics-port'] === undefined
      ? undefined
      : integerFlag('metrics-port', values['metrics-port'], 0, 65535, NODE_USAGE);
  const dataDir = values['data-dir'];
  if (dataDir === '') throw new UsageError('--data-dir needs a directory path', NODE_USAGE);

  const shutdown = onShutdownSignal();
  try {
    const x0x = await loadX0x();
    const config = values.coordinator
      ? settings.config.with({ coordinator: true })
      : settings.config;
    const agent = await buildAgent(x0x, { ...settings, config }, { dataDir, announce });
    let metrics: MetricsServer | undefined;
    let logging: Promise<void> | undefined;
    try {
      io.out(`id ${agent.agentId}`);
      for (const addr of agent.listenAddrs) io.out(`listen ${addr}`);
      for (const addr of agent.advertisedAddrs) io.out(`advertise ${addr}`);
      if (metricsPort !== undefined) {
        metrics = await startMetricsServer(agent, metricsPort);
        io.out(`metrics ${metrics.url}`);
      }
      logging = logMembership(agent, io);
      if (!(await join(agent, settings.bootstrap.length, shutdown.signal, io))) return ExitCode.ok;
      io.out('ready');
      await aborted(shutdown.signal);
    } finally {
      io.log(`shutting down${shutdown.received() === undefined ? '' : ` (${shutdown.received()})`}`);
      await metrics?.close();
      await agent.close();
      await logging;
      io.log('closed');
    }
    return ExitCode.ok;
  } finally {
    shutdown.dispose();
  }
}

/** Joins; `false` when a shutdown signal cut the join short. */
async function join(agent: Agent, seeds: number, signal: AbortSignal, io: Io): Promise<boolean> {
  try {
    await agent.joinNetwork({ signal });
  } catch (err) {
    if (err instanceof AbortError && signal.aborted) return false;
    throw err;
  }
  io.log(seeds === 0 ? 'started a new network' : `joined the network through ${seeds} bootstrap address(es)`);
  return true;
}

function describe(e: MembershipEvent): string {
  if (e.type === 'lagged') return `lagged: missed ${e.missed} membership events`;
  const base = `${e.type} ${e.peer.peerId} ${e.peer.addr || '-'}`;
  return e.type === 'peer-left' ? `${base} ${e.reason}` : base;
}

/** Logs every membership event until the agent closes. */
async function logMembership(agent: Agent, io: Io): Promise<void> {
  try {
    for await (const e of agent.membership.events()) io.log(describe(e));
  } catch (err) {
    // The stream ends with the agent; anything else is worth a line, not a crash.
    if (!agent.closed) io.log(`membership events ended: ${(err as Error).message}`);
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
