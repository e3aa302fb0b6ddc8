/**
 * `x0x pub`: join a network, publish one message, leave.
 *
 * @internal
 * @module
 */

import { integerFlag, networkSettings, NETWORK_OPTIONS, parse, positionals } from './args.js';
import type { Io } from './io.js';
import { ExitCode, UsageError } from './usage.js';
import { withJoinedAgent } from './wait.js';

/** The usage text of `x0x pub`. */
export const PUB_USAGE = `Usage: x0x pub --bootstrap ADDR [options] <topic> <message>

Joins the network through ADDR, waits for a first neighbour, publishes
<message> (UTF-8 text) on <topic> once, prints the message id on stdout and
closes. Delivery is best effort: a subscriber that joined moments ago may
not be reachable yet, so try again if it printed nothing.

Options:
  --bootstrap ADDR   ip:port or host:port of an agent in the network; repeatable (required)
  --bind ADDR        local ip:port to bind (default 127.0.0.1:0)
  --key FILE         identity file, created (mode 0600) if absent (default: a new identity)
  --config FILE      gossip settings as JSON, the fields of withConfig()
  --timeout SECONDS  give up joining and waiting for a neighbour after this long, 1 to 3600 (default 10)
  -h, --help         show this help`;

/** Runs `x0x pub`. */
export async function pubCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals: rest } = parse(
    argv,
    { ...NETWORK_OPTIONS, timeout: { type: 'string', default: '10' } },
    PUB_USAGE,
  );
  if (values.help) {
    io.out(PUB_USAGE);
    return ExitCode.ok;
  }
  const [topic = '', message = ''] = positionals(rest, ['topic', 'message'], PUB_USAGE);
  const settings = networkSettings(values, PUB_USAGE);
  if (settings.bootstrap.length === 0) throw new UsageError('--bootstrap ADDR is required', PUB_USAGE);
  const timeoutMs = integerFlag('timeout', values.timeout, 1, 3600, PUB_USAGE) * 1000;

  return withJoinedAgent(settings, timeoutMs, async (agent) => {
    io.out(await agent.publish(topic, message));
  });
}
