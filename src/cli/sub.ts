/**
 * `x0x sub`: join a network and print the messages of one topic, a line each.
 *
 * @internal
 * @module
 */

import type { Message } from '../subscription.js';
import { integerFlag, networkSettings, NETWORK_OPTIONS, parse, positionals } from './args.js';
import type { Io } from './io.js';
import { ExitCode, UsageError } from './usage.js';
import { withJoinedAgent } from './wait.js';

/** The usage text of `x0x sub`. */
export const SUB_USAGE = `Usage: x0x sub --bootstrap ADDR [options] <topic>

Joins the network through ADDR, subscribes to <topic> and prints every
message on stdout, one line each, until SIGINT/SIGTERM (or --count messages).
"subscribed <topic>" goes to stderr once it listens. A line holds the
payload as UTF-8 text, with line breaks shown as \\n and \\r; --json prints
one JSON object per message instead, with the exact payload in base64.
Anti-entropy may also deliver messages published shortly before the
subscription (within messageCacheTtl).

Options:
  --bootstrap ADDR   ip:port or host:port of an agent in the network; repeatable (required)
  --bind ADDR        local ip:port to bind (default 127.0.0.1:0)
  --key FILE         identity file, created (mode 0600) if absent (default: a new identity)
  --config FILE      gossip settings as JSON, the fields of withConfig()
  --count N          exit 0 after N messages, 1 to 1000000 (default: run until stopped)
  --json             print {"id","from","topic","publishedAt","receivedAt","text","payload"} per line
  --timeout SECONDS  give up joining and waiting for a neighbour after this long, 1 to 3600 (default 10)
  -h, --help         show this help`;

const decoder = new TextDecoder();

/** One output line for `message`. */
export function formatMessage(message: Message, json: boolean): string {
  const text = decoder.decode(message.payload);
  if (!json) return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return JSON.stringify({
    id: message.id,
    from: message.from,
    topic: message.topic,
    publishedAt: message.publishedAt,
    receivedAt: message.receivedAt,
    text,
    payload: Buffer.from(message.payload).toString('base64'),
  });
}

/** Runs `x0x sub`. */
export async function subCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals: rest } = parse(
    argv,
    {
      ...NETWORK_OPTIONS,
      count: { type: 'string' },
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '10' },
    },
    SUB_USAGE,
  );
  if (values.help) {
    io.out(SUB_USAGE);
    return ExitCode.ok;
  }
  const [topic = ''] = positionals(rest, ['topic'], SUB_USAGE);
  const settings = networkSettings(values, SUB_USAGE);
  if (settings.bootstrap.length === 0) throw new UsageError('--bootstrap ADDR is required', SUB_USAGE);
  const count = values.count === undefined ? Infinity : integerFlag('count', values.count, 1, 1_000_000, SUB_USAGE);
  const timeoutMs = integerFlag('timeout', values.timeout, 1, 3600, SUB_USAGE) * 1000;

  return withJoinedAgent(settings, timeoutMs, async (agent, shutdown) => {
    const subscription = await agent.subscribe(topic, { signal: shutdown });
    io.log(`subscribed ${topic}`);
    let seen = 0;
    try {
      for await (const message of subscription) {
        io.out(formatMessage(message, values.json));
        seen += 1;
        if (seen >= count) break;
      }
    } catch (err) {
      if (!shutdown.aborted) throw err;
    }
  });
}
