/**
 * `@x0x/node/prom-client`: the metrics of `agent.metrics()`, registered into
 * an application's own prom-client registry, so one scrape of the
 * application's `/metrics` carries its metrics and x0x's together.
 *
 * `prom-client` (15.x) is an optional peer dependency: the main entry point
 * never loads it, and loading this one without it installed throws
 * {@link PeerDependencyMissingError} (`ERR_X0X_PEER_DEPENDENCY_MISSING`).
 *
 * The families, names, help texts and values are the ones `agent.metrics()`
 * reports (both read one list); values are read when the registry is
 * scraped, never polled. Each sample carries the agent id in an `agent`
 * label, so several agents can share one registry.
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * import { registerX0xMetrics } from '@x0x/node/prom-client';
 *
 * const registry = new Registry();
 * const metrics = await registerX0xMetrics(agent, { registry });
 * // … `await registry.metrics()` now includes x0x_pubsub_published_total{agent="…"} …
 * metrics.unregister(); // or agent.close()
 * ```
 *
 * @module @x0x/node/prom-client
 */

import './polyfills.js';

import { createRequire } from 'node:module';

import type * as PromClient from 'prom-client';

import type { Agent } from './agent.js';
import { checkOptions as checkOptionsArg } from './arg-errors.js';
import { coreOf } from './core-registry.js';
import { ClosedError, InvalidConfigError, PeerDependencyMissingError } from './errors.js';
import { collectAgentMetricFamilies } from './metrics.js';
import type { HistogramSample, MetricFamily } from './prometheus.js';

/** A prom-client registry, of either content type. */
export type PromRegistry = PromClient.Registry<PromClient.RegistryContentType>;

/** Options of {@link registerX0xMetrics}. */
export interface X0xMetricsOptions {
  /**
   * Where the metrics go.
   * @defaultValue prom-client's global `register`
   */
  readonly registry?: PromRegistry;
  /**
   * Prepended to every metric name: `"myapp_"` gives
   * `myapp_x0x_pubsub_published_total`. Must keep the names valid
   * Prometheus names.
   * @defaultValue `""`
   */
  readonly prefix?: string;
  /**
   * Constant labels added to every sample of this agent, e.g.
   * `{ service: 'chat' }`. Every agent registered into one registry with one
   * prefix must use the same label names (prom-client fixes a metric's label
   * names when it is created); their values may differ. A name x0x uses
   * itself (`reason`, `direction`, `view`, `kind`, `method`, and `le`, which
   * prom-client reserves for histogram buckets) is refused.
   * @defaultValue none
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Name of the label that carries the agent id, or `false` for none. Without
   * it, two agents in one registry and prefix must differ in `labels`.
   * @defaultValue `"agent"`
   */
  readonly agentLabel?: string | false;
}

/**
 * An agent's metrics in one registry. {@link X0xMetricsRegistration.unregister}
 * (or `using`, or closing the agent) takes this agent's samples out; when the
 * last agent of a registry and prefix goes, its metrics are removed from the
 * registry.
 */
export interface X0xMetricsRegistration extends Disposable {
  /** The registry the metrics are in. */
  readonly registry: PromRegistry;
  /** The name prefix this registration used. */
  readonly prefix: string;
  /** The labels this agent's samples carry besides x0x's own (the agent label included). */
  readonly labels: Readonly<Record<string, string>>;
  /** False once unregistered, by {@link X0xMetricsRegistration.unregister} or by closing the agent. */
  readonly active: boolean;
  /** Takes this agent's samples out of the registry. Idempotent. */
  unregister(): void;
}

const prom = loadPromClient();

function loadPromClient(): typeof PromClient {
  const load = createRequire(__filename);
  // Resolving first tells "not installed" from "installed but broken"
  // without reading an error message; the second is rethrown as it is.
  try {
    load.resolve('prom-client');
  } catch (err) {
    throw new PeerDependencyMissingError(
      'prom-client',
      '@x0x/node/prom-client needs the optional peer dependency prom-client (15.x): npm install prom-client',
      { cause: err },
    );
  }
  return load('prom-client') as typeof PromClient;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DEFAULT_AGENT_LABEL = 'agent';

type PromMetric = PromClient.Counter<string> | PromClient.Gauge<string> | PromClient.Histogram<string>;

/** What a prom-client histogram's `get()` resolves to. */
type HistogramObject = Awaited<ReturnType<PromClient.Histogram<string>['get']>>;

/**
 * A prom-client `Histogram` whose series are copied whole from the agents
 * at each scrape, like the counters: prom-client has no call that sets a
 * histogram's buckets, so the two methods a registry reads a metric through
 * (`get()`, and `getForPromString()` for text) report the copy. Its own
 * `observe()` state is never shown.
 */
class CopiedHistogram extends prom.Histogram<string> {
  readonly #name: string;
  readonly #help: string;
  readonly #copy: () => Promise<HistogramObject['values']>;

  constructor(config: PromClient.HistogramConfiguration<string>, copy: () => Promise<HistogramObject['values']>) {
    super(config);
    this.#name = config.name;
    this.#help = config.help;
    this.#copy = copy;
  }

  override get(): Promise<HistogramObject> {
    return this.getForPromString();
  }

  async getForPromString(): Promise<HistogramObject> {
    const values = await this.#copy();
    // What prom-client's own histogram returns; its typings name the type by a
    // TypeScript enum the library does not export, and want a collect field.
    const object = { name: this.#name, help: this.#help, type: 'histogram', aggregator: 'sum', values };
    return object as unknown as HistogramObject;
  }
}

interface Member {
  readonly agent: Agent;
  readonly labels: Readonly<Record<string, string>>;
  /** The label values, canonically ordered: two members with one key would write the same series. */
  readonly key: string;
  readonly registration: Registration;
}

interface MemberFamilies {
  readonly member: Member;
  readonly families: ReadonlyMap<string, MetricFamily>;
}

/**
 * The agents sharing one registry and prefix. prom-client allows one metric
 * object per name and registry, so the agents cannot each register their
 * own: every metric here reads all members, from one snapshot per scrape.
 */
class Group {
  readonly registry: PromRegistry;
  readonly prefix: string;
  /** Sorted names of the members' labels (agent label included). */
  readonly labelNames: readonly string[];
  readonly members = new Set<Member>();
  /** By x0x family name (without the prefix). */
  readonly metrics = new Map<string, PromMetric>();
  #pending: Promise<MemberFamilies[]> | undefined;

  constructor(registry: PromRegistry, prefix: string, labelNames: readonly string[]) {
    this.registry = registry;
    this.prefix = prefix;
    this.labelNames = labelNames;
  }

  /**
   * Every member's families, shared by the metrics one scrape collects:
   * `registry.metrics()` calls every `collect()` before awaiting any, so
   * they all join the first one's read, and the figures of one scrape are
   * of one moment rather than one read per family.
   */
  snapshot(): Promise<MemberFamilies[]> {
    if (this.#pending !== undefined) return this.#pending;
    const pending = this.#read();
    this.#pending = pending;
    const clear = (): void => {
      if (this.#pending === pending) this.#pending = undefined;
    };
    pending.then(clear, clear);
    return pending;
  }

  async #read(): Promise<MemberFamilies[]> {
    const members = [...this.members];
    const read = await Promise.all(
      members.map(async (member): Promise<MemberFamilies | undefined> => {
        try {
          return { member, families: byName(await collectAgentMetricFamilies(member.agent)) };
        } catch (err) {
          // Closed while the scrape ran: its close hook has taken it out.
          if (err instanceof ClosedError) return undefined;
          throw err;
        }
      }),
    );
    const live = read.filter((r): r is MemberFamilies => r !== undefined && r.member.registration.active);
    // A family can first appear later (a close reason seen for the first
    // time); it is registered now and shows from the next scrape, because
    // the registry lists its metrics before collecting them.
    for (const { families } of live) {
      for (const family of families.values()) {
        if (adoptable(this, family) && this.canAdopt(family) === undefined) this.adopt(family);
      }
    }
    return live;
  }

  /** Why `family` cannot be registered here, or `undefined` when it can. */
  canAdopt(family: MetricFamily): InvalidConfigError | undefined {
    const name = this.prefix + family.name;
    if (this.registry.getSingleMetric(name) !== undefined) {
      return new InvalidConfigError(`the registry already has a metric named ${name}; choose a prefix`, {
        field: 'prefix',
      });
    }
    for (const label of labelNamesOf(family)) {
      if (this.labelNames.includes(label)) {
        return new InvalidConfigError(`label ${label} is one of x0x's own (on ${family.name})`, { field: 'labels' });
      }
    }
    return undefined;
  }

  adopt(family: MetricFamily): void {
    const group = this;
    const labelNames = [...this.labelNames, ...labelNamesOf(family)];
    const config = {
      name: this.prefix + family.name,
      help: family.help,
      labelNames,
      registers: [this.registry],
    };
    let metric: PromMetric;
    switch (family.type) {
      // The agent owns these counts; each scrape copies them whole (reset,
      // then inc from 0) rather than adding deltas, so `registry.resetMetrics()`
      // or a missed scrape cannot make the copy drift from `agent.metrics()`.
      case 'counter':
        metric = new prom.Counter({
          ...config,
          async collect() {
            const read = await group.snapshot();
            this.reset();
            for (const [labels, value] of samplesOf(read, family.name)) this.inc(labels, value);
          },
        });
        break;
      case 'gauge':
        metric = new prom.Gauge({
          ...config,
          async collect() {
            const read = await group.snapshot();
            this.reset();
            for (const [labels, value] of samplesOf(read, family.name)) this.set(labels, value);
          },
        });
        break;
      case 'histogram': {
        const name = config.name;
        // The bounds are fixed in x0x; prom-client wants them, for the state it never shows.
        const buckets = family.samples[0]?.buckets.map((bucket) => bucket.le) ?? [];
        metric = new CopiedHistogram({ ...config, buckets }, async () => {
          const read = await group.snapshot();
          const values: HistogramObject['values'] = [];
          for (const [labels, sample] of histogramSamplesOf(read, family.name)) {
            for (const bucket of sample.buckets) {
              values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: bucket.le }, value: bucket.count });
            }
            values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: sample.count });
            values.push({ metricName: `${name}_sum`, labels, value: sample.sum });
            values.push({ metricName: `${name}_count`, labels, value: sample.count });
          }
          return values;
        });
        break;
      }
      default: {
        const unknown: never = family;
        throw new TypeError(`no prom-client metric for type ${String((unknown as MetricFamily).type)}`);
      }
    }
    this.metrics.set(family.name, metric);
  }

  /** Removes this group's metrics from the registry (those still its own). */
  dispose(): void {
    // By the name each was created with: prom-client strips `_total` from a
    // counter's `name` while an OpenMetrics registry scrapes it, but keeps it
    // registered under the original one.
    for (const [family, metric] of this.metrics) {
      const name = this.prefix + family;
      if (this.registry.getSingleMetric(name) === (metric as unknown)) this.registry.removeSingleMetric(name);
    }
    this.metrics.clear();
  }
}

/**
 * A family with samples whose metric is not in the registry: never created,
 * or taken out by `registry.clear()` (then a new registration puts it
 * back). Its label names come from its samples and prom-client fixes them
 * when the metric is created, so an empty family waits, as one not
 * reported yet does.
 */
function adoptable(group: Group, family: MetricFamily): boolean {
  const metric = group.metrics.get(family.name);
  const registered = metric !== undefined && group.registry.getSingleMetric(group.prefix + family.name) === (metric as unknown);
  return !registered && family.samples.length > 0;
}

function* samplesOf(
  read: readonly MemberFamilies[],
  name: string,
): Generator<[Record<string, string>, number]> {
  for (const { member, families } of read) {
    const family = families.get(name);
    if (family === undefined || family.type === 'histogram') continue;
    for (const sample of family.samples) {
      yield [{ ...member.labels, ...sample.labels }, sample.value];
    }
  }
}

function* histogramSamplesOf(
  read: readonly MemberFamilies[],
  name: string,
): Generator<[Record<string, string>, HistogramSample]> {
  for (const { member, families } of read) {
    const family = families.get(name);
    if (family?.type !== 'histogram') continue;
    for (const sample of family.samples) yield [{ ...member.labels, ...sample.labels }, sample];
  }
}

function byName(families: readonly MetricFamily[]): Map<string, MetricFamily> {
  return new Map(families.map((family) => [family.name, family]));
}

function labelNamesOf(family: MetricFamily): string[] {
  const names = new Set<string>();
  for (const sample of family.samples) for (const name of Object.keys(sample.labels ?? {})) names.add(name);
  return [...names];
}

/** Groups by registry, then by prefix. */
const groups = new WeakMap<PromRegistry, Map<string, Group>>();

/** Each agent's live registrations, which its close ends. */
const byAgent = new WeakMap<Agent, Set<Registration>>();

class Registration implements X0xMetricsRegistration {
  readonly registry: PromRegistry;
  readonly prefix: string;
  readonly labels: Readonly<Record<string, string>>;
  #group: Group | undefined;
  #member: Member;

  constructor(group: Group, agent: Agent, labels: Readonly<Record<string, string>>, key: string) {
    this.registry = group.registry;
    this.prefix = group.prefix;
    this.labels = labels;
    this.#group = group;
    this.#member = { agent, labels, key, registration: this };
  }

  get member(): Member {
    return this.#member;
  }

  get active(): boolean {
    return this.#group !== undefined;
  }

  unregister(): void {
    const group = this.#group;
    if (group === undefined) return;
    this.#group = undefined;
    group.members.delete(this.#member);
    byAgent.get(this.#member.agent)?.delete(this);
    if (group.members.size === 0) {
      group.dispose();
      const byPrefix = groups.get(group.registry);
      if (byPrefix?.get(group.prefix) === group) byPrefix.delete(group.prefix);
    }
  }

  [Symbol.dispose](): void {
    this.unregister();
  }
}

function checkOptions(value: X0xMetricsOptions | undefined): {
  registry: PromRegistry;
  prefix: string;
  labels: Record<string, string>;
  agentLabel: string | false;
} {
  const options = checkOptionsArg(value);
  const registry = options.registry ?? prom.register;
  for (const method of ['getSingleMetric', 'removeSingleMetric', 'registerMetric'] as const) {
    if (typeof (registry as Partial<PromRegistry>)[method] !== 'function') {
      throw new InvalidConfigError('registry must be a prom-client Registry', { field: 'registry' });
    }
  }
  const prefix = options.prefix ?? '';
  if (typeof prefix !== 'string') {
    throw new InvalidConfigError(`prefix must be a string (got ${typeof prefix})`, { field: 'prefix' });
  }
  if (prefix !== '' && !METRIC_NAME.test(prefix)) {
    throw new InvalidConfigError(`prefix ${JSON.stringify(prefix)} would not make valid metric names`, {
      field: 'prefix',
    });
  }
  const agentLabel = options.agentLabel ?? DEFAULT_AGENT_LABEL;
  if (agentLabel !== false && typeof agentLabel !== 'string') {
    throw new InvalidConfigError(`agentLabel must be a string or false (got ${typeof agentLabel})`, {
      field: 'agentLabel',
    });
  }
  if (agentLabel !== false) checkLabelName(agentLabel, 'agentLabel');
  const given = options.labels ?? {};
  if (typeof given !== 'object' || given === null) {
    throw new InvalidConfigError(`labels must be an object (got ${String(given)})`, { field: 'labels' });
  }
  const labels: Record<string, string> = {};
  for (const [name, value] of Object.entries(given)) {
    checkLabelName(name, 'labels');
    if (typeof value !== 'string') {
      throw new InvalidConfigError(`label ${name} must have a string value (got ${typeof value})`, { field: 'labels' });
    }
    if (name === agentLabel) {
      throw new InvalidConfigError(`label ${name} is the agent label; set agentLabel to another name or false`, {
        field: 'labels',
      });
    }
    labels[name] = value;
  }
  return { registry, prefix, labels, agentLabel };
}

function checkLabelName(name: string, field: string): void {
  if (!LABEL_NAME.test(name) || name.startsWith('__')) {
    throw new InvalidConfigError(`${JSON.stringify(name)} is not a valid label name (or is reserved, __*)`, { field });
  }
  if (name === 'le') {
    throw new InvalidConfigError('label le is reserved for the buckets of histograms', { field });
  }
}

/**
 * Registers `agent`'s metrics (every family of `agent.metrics()`) into a
 * prom-client registry. Counters are prom-client `Counter`s, gauges
 * `Gauge`s and the delivery latency histogram a `Histogram` (its buckets
 * copied from the agent, never observed into), with the help texts of
 * `agent.metrics()`; their values are read from the agent when the registry
 * is scraped and equal what `agent.metrics()` reports at that moment.
 *
 * Several agents can be registered into one registry: each sample carries
 * the agent's id in the `agent` label (see {@link X0xMetricsOptions.agentLabel}),
 * and the agents share one metric per name. Registering an agent that is
 * already in the registry with the same prefix and labels is refused.
 *
 * Unregistering, or closing the agent, takes its samples out; with the last
 * agent of a registry and prefix gone the registry holds none of these
 * metrics again.
 *
 * A scrape fails (`registry.metrics()` rejects) when reading a registered
 * agent fails for a reason other than its closing, as `agent.metrics()`
 * would. A family x0x starts reporting only later (the first connection
 * closed for a new reason) appears from the scrape after the one that first
 * saw it.
 *
 * @param agent - a running agent
 * @param options - the registry (default: prom-client's global one), a name prefix and constant labels
 * @returns the registration; `unregister()` or `using` ends it
 * @throws {@link @x0x/node!InvalidConfigError | InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, its `field` is
 *   `registry`, `prefix`, `labels` or `agentLabel`) when an option has the wrong type (the registry
 *   is no prom-client `Registry`, a label value no string), the prefix or a label name is invalid, a label name
 *   is one x0x uses, the labels' names differ from those of the agents already in this registry
 *   and prefix, the same labels (and agent) are already registered, or the registry already
 *   holds a metric of one of these names (choose a `prefix`)
 * @throws {@link @x0x/node!ClosedError | ClosedError} (`ERR_X0X_CLOSED`) when the agent is or gets closed
 *   before the registration completes
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `agent` is not an x0x `Agent` or `options` is not an object
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { Registry, collectDefaultMetrics } from 'prom-client';
 * import { registerX0xMetrics } from '@x0x/node/prom-client';
 *
 * const registry = new Registry();
 * collectDefaultMetrics({ register: registry });
 * await registerX0xMetrics(agent, { registry, labels: { service: 'chat' } });
 * createServer(async (req, res) => {
 *   res.setHeader('Content-Type', registry.contentType);
 *   res.end(await registry.metrics());
 * }).listen(9464, '127.0.0.1');
 * ```
 */
export async function registerX0xMetrics(
  agent: Agent,
  options?: X0xMetricsOptions,
): Promise<X0xMetricsRegistration> {
  const core = coreOf(agent);
  const { registry, prefix, labels: constant, agentLabel } = checkOptions(options);
  const labels = agentLabel === false ? constant : { ...constant, [agentLabel]: agent.agentId };
  const labelNames = Object.keys(labels).sort();
  const key = JSON.stringify(labelNames.map((name) => labels[name]));
  // Also learns which families exist (and their label names), which
  // creating prom-client metrics needs up front.
  const families = await collectAgentMetricFamilies(agent);
  // Everything below is synchronous, so two registrations racing here see
  // each other, and a failed check leaves the registry as it was.
  if (agent.closed) throw new ClosedError();

  let byPrefix = groups.get(registry);
  const existing = byPrefix?.get(prefix);
  const group = existing ?? new Group(registry, prefix, labelNames);
  if (existing !== undefined) {
    if (JSON.stringify(existing.labelNames) !== JSON.stringify(labelNames)) {
      throw new InvalidConfigError(
        `agents registered into one registry with one prefix must use the same label names: ` +
          `[${existing.labelNames.join(', ')}] already, [${labelNames.join(', ')}] now`,
        { field: 'labels' },
      );
    }
    for (const member of existing.members) {
      if (member.key === key) {
        throw new InvalidConfigError(
          member.agent === agent
            ? `this agent is already registered in this registry with prefix ${JSON.stringify(prefix)}`
            : `another agent is registered with the same labels ${JSON.stringify(labels)}; ` +
                'keep the agent label or give each agent distinct labels',
          { field: agentLabel === false ? 'agentLabel' : 'labels' },
        );
      }
    }
  }
  const fresh = families.filter((family) => adoptable(group, family));
  for (const family of fresh) {
    const refused = group.canAdopt(family);
    if (refused !== undefined) throw refused;
  }

  if (existing === undefined) {
    if (byPrefix === undefined) {
      byPrefix = new Map();
      groups.set(registry, byPrefix);
    }
    byPrefix.set(prefix, group);
  }
  for (const family of fresh) group.adopt(family);
  const registration = new Registration(group, agent, Object.freeze({ ...labels }), key);
  group.members.add(registration.member);

  let live = byAgent.get(agent);
  if (live === undefined) {
    const registrations = new Set<Registration>();
    live = registrations;
    byAgent.set(agent, registrations);
    core.beforeClose(async () => {
      for (const r of [...registrations]) r.unregister();
    });
  }
  live.add(registration);
  return registration;
}
