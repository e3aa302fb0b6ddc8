// A long-running service that keeps its identity across restarts.
//
//   X0X_KEY_FILE=./service.key X0X_BOOTSTRAP=203.0.113.7:9000 node examples/persistent-identity.mjs
//
// The key file is created (mode 0600) on the first start and loaded on every
// later one, so the agent id, which other agents know it by, stays the same.
// X0X_DATA_DIR keeps the bootstrap cache, so a restart can rejoin through
// peers it saw before even when the seeds are down. SIGINT or SIGTERM (what
// systemd, Docker and Kubernetes send) closes the agent, which tells its
// neighbours it is leaving, and the process exits 0.
import { mkdirSync } from 'node:fs';

import { Agent } from '@x0x/node';

const keyFile = process.env.X0X_KEY_FILE ?? './agent.key';
const dataDir = process.env.X0X_DATA_DIR ?? './x0x-data';
const bootstrap = (process.env.X0X_BOOTSTRAP ?? '').split(',').filter(Boolean);

mkdirSync(dataDir, { recursive: true });
const agent = await Agent.builder()
  .withKeyFile(keyFile)
  .withDataDir(dataDir)
  .withBindAddress(process.env.X0X_BIND ?? '127.0.0.1:0')
  .withBootstrapPeers(bootstrap)
  .build();

const stopped = new Promise((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});

try {
  console.log(`id ${agent.agentId}`);
  console.log(`listening on ${agent.listenAddrs.join(', ')}`);
  await agent.joinNetwork({ signal: AbortSignal.timeout(30_000) });
  console.log('ready');

  const sub = await agent.subscribe('service.requests');
  const serving = (async () => {
    for await (const msg of sub) {
      console.log(`request from ${msg.from.slice(0, 8)}: ${new TextDecoder().decode(msg.payload)}`);
    }
  })();

  const signal = await stopped;
  console.log(`${signal}: leaving the network`);
  await sub.unsubscribe();
  await serving;
} finally {
  await agent.close();
}
