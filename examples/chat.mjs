// A chat between two terminals (or more) on one machine.
//
//   terminal 1:  node examples/chat.mjs
//                -> "listening on 127.0.0.1:PORT"
//   terminal 2:  node examples/chat.mjs 127.0.0.1:PORT
//
// Each line you type is published on one topic; lines from the others are
// printed with the first 8 characters of the sender's agent id. Ctrl-D or
// Ctrl-C leaves. To chat across machines, start the first one with
// --bind 0.0.0.0:9000 and give the others its LAN address.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

import { Agent } from '@x0x/node';

const TOPIC = 'x0x.example.chat';
const { values, positionals: bootstrap } = parseArgs({
  options: { bind: { type: 'string', default: '127.0.0.1:0' } },
  allowPositionals: true,
});

const agent = await Agent.builder().withBindAddress(values.bind).withBootstrapPeers(bootstrap).build();
const input = createInterface({ input: process.stdin });
const stop = () => input.close();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

try {
  console.log(`you are ${agent.agentId.slice(0, 8)}, listening on ${agent.listenAddrs.join(', ')}`);
  const sub = await agent.subscribe(TOPIC);
  await agent.joinNetwork({ signal: AbortSignal.timeout(10_000) });
  if (bootstrap.length > 0) {
    await agent.membership.waitForPeers(1, { signal: AbortSignal.timeout(10_000) });
    console.log('connected; type a line and press Enter');
  } else {
    console.log('waiting for others to join; you can type already');
  }

  const printing = (async () => {
    for await (const msg of sub) {
      if (msg.from === agent.agentId) continue; // our own lines come back too
      console.log(`${msg.from.slice(0, 8)}: ${new TextDecoder().decode(msg.payload)}`);
    }
  })();
  for await (const line of input) {
    if (line.trim() !== '') await agent.publish(TOPIC, line);
  }
  await sub.unsubscribe();
  await printing;
} finally {
  await agent.close();
}
