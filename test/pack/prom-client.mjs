// `@x0x/node/prom-client` as a user installs it. Run inside an app that
// installed the packed tarball: with `missing`, prom-client must not be
// installed and both import and require must throw the coded error; with
// `present`, an agent's metrics must reach a prom-client registry. Prints
// "ok <mode>" on success.
import { createRequire } from 'node:module';

import { Agent, PeerDependencyMissingError } from '@x0x/node';

const mode = process.argv[2];
const require = createRequire(import.meta.url);

if (mode === 'missing') {
  for (const load of [() => import('@x0x/node/prom-client'), async () => require('@x0x/node/prom-client')]) {
    const outcome = await load().then(
      () => new Error('loaded without prom-client'),
      (err) => err,
    );
    if (!(outcome instanceof PeerDependencyMissingError) || outcome.code !== 'ERR_X0X_PEER_DEPENDENCY_MISSING') {
      throw outcome;
    }
  }
} else if (mode === 'present') {
  const { Registry } = await import('prom-client');
  const { registerX0xMetrics } = await import('@x0x/node/prom-client');
  if (require('@x0x/node/prom-client').registerX0xMetrics !== registerX0xMetrics) {
    throw new Error('import and require give different modules');
  }
  const agent = await Agent.builder().build();
  try {
    const registry = new Registry();
    const registration = await registerX0xMetrics(agent, { registry });
    const text = await registry.metrics();
    if (!text.includes('# TYPE x0x_pubsub_published_total counter')) throw new Error(`no x0x counter in:\n${text}`);
    if (!text.includes(`x0x_pubsub_published_total{agent="${agent.agentId}"} 0`)) throw new Error(`no sample in:\n${text}`);
    registration.unregister();
    if ((await registry.metrics()).includes('x0x_')) throw new Error('x0x metrics left after unregister');
  } finally {
    await agent.close();
  }
} else {
  throw new Error(`usage: prom-client.mjs missing|present (got ${mode})`);
}
console.log(`ok ${mode}`);
