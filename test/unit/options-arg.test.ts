// Options arguments follow Node core's rule (issue 17): `undefined` means
// "not given"; `null`, an array or any other non-object is a TypeError with
// code ERR_INVALID_ARG_TYPE naming the argument ("The "options" argument
// must be of type object. Received null"), and so is an `options.signal`
// that is not an AbortSignal. The table below names every public entry
// point with an options parameter, and a scan of the package's public
// exports (its three entry points, read with the TypeScript compiler) must
// find exactly those, so an entry point added later without a row, and so
// perhaps without the check, fails here. Over the recording stand-in for the
// addon: every check runs before anything native.
import '../helpers/use-fake-binding.js';

import * as path from 'node:path';

import * as ts from 'typescript';
import { describe, expect, it } from 'vitest';

import { Agent, type ProgrammerErrorCode } from '../../src/index.js';
import { registerX0xMetrics } from '../../src/prom-client.js';
import { createTestnet } from '../../src/testnet.js';

const ROOT = path.join(__dirname, '..', '..');
/** The package's entry points, as package.json `exports` names them. */
const ENTRY_POINTS = ['src/index.ts', 'src/testnet.ts', 'src/prom-client.ts'];

const ID = 'ab'.repeat(32);

interface Row {
  /** Whether a refusal is a rejection (async) or a synchronous throw. */
  readonly kind: 'async' | 'sync';
  /** Whether the options carry a `signal`, checked to be an AbortSignal. */
  readonly signal: boolean;
  /** The call, otherwise valid, with `options` in the options position. */
  readonly call: (agent: Agent, options: unknown) => unknown;
}

const o = (options: unknown): never => options as never;

/** Every public entry point with an options parameter, as `Class.method` or `function`. */
const TABLE: Record<string, Row> = {
  'Agent.joinNetwork': { kind: 'async', signal: true, call: (a, x) => a.joinNetwork(o(x)) },
  'Agent.subscribe': { kind: 'async', signal: true, call: (a, x) => a.subscribe('t', o(x)) },
  'Agent.publish': { kind: 'async', signal: true, call: (a, x) => a.publish('t', 'x', o(x)) },
  'AgentBuilder.withLogger': { kind: 'sync', signal: false, call: (_, x) => Agent.builder().withLogger(() => undefined, o(x)) },
  'PubSubManager.subscribe': { kind: 'async', signal: true, call: (a, x) => a.pubsub.subscribe('t', o(x)) },
  'PubSubManager.publish': { kind: 'async', signal: true, call: (a, x) => a.pubsub.publish('t', 'x', o(x)) },
  'PubSubManager.waitForTopicPeers': { kind: 'async', signal: true, call: (a, x) => a.pubsub.waitForTopicPeers('t', 1, o(x)) },
  'MembershipManager.join': { kind: 'async', signal: true, call: (a, x) => a.membership.join(['127.0.0.1:9'], o(x)) },
  'MembershipManager.events': { kind: 'sync', signal: true, call: (a, x) => a.membership.events(o(x)) },
  'MembershipManager.waitForPeers': { kind: 'async', signal: true, call: (a, x) => a.membership.waitForPeers(1, o(x)) },
  'PresenceManager.events': { kind: 'sync', signal: true, call: (a, x) => a.presence.events(o(x)) },
  'TransportAdapter.events': { kind: 'sync', signal: true, call: (a, x) => a.transport.events(o(x)) },
  'DiscoveryManager.findAgent': { kind: 'async', signal: true, call: (a, x) => a.discovery.findAgent(ID, o(x)) },
  'RendezvousManager.register': { kind: 'async', signal: true, call: (a, x) => a.rendezvous.register(undefined, o(x)) },
  'RendezvousManager.unregister': { kind: 'async', signal: true, call: (a, x) => a.rendezvous.unregister(o(x)) },
  'RendezvousManager.lookup': { kind: 'async', signal: true, call: (a, x) => a.rendezvous.lookup(ID, o(x)) },
  createTestnet: { kind: 'async', signal: true, call: (_, x) => createTestnet(2, o(x)) },
  registerX0xMetrics: { kind: 'async', signal: false, call: (a, x) => registerX0xMetrics(a, o(x)) },
};

/**
 * What a public signature's parameter must look like to count as an
 * options argument: named `options`, or typed as some `…Options` (the
 * `ErrorOptions` of the error classes' constructors are the standard
 * `Error` ones, which Node itself does not check).
 */
function isOptionsParameter(p: ts.ParameterDeclaration): boolean {
  const type = p.type?.getText() ?? '';
  if (/\bErrorOptions\b/.test(type)) return false;
  return (ts.isIdentifier(p.name) && p.name.text === 'options') || /\w+Options\b/.test(type);
}

function isInternal(node: ts.Node): boolean {
  return ts.getJSDocTags(node).some((t) => t.tagName.text === 'internal');
}

/** `Class.method` and `function` names of the public signatures with an options parameter. */
function scanPublicOptionsParameters(): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.build.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (parsed === undefined) throw new Error('tsconfig.build.json did not parse');
  const program = ts.createProgram(
    ENTRY_POINTS.map((f) => path.join(ROOT, f)),
    parsed.options,
  );
  const checker = program.getTypeChecker();
  const found = new Set<string>();
  const consider = (name: string, decl: ts.SignatureDeclaration): void => {
    if (isInternal(decl)) return;
    if (decl.parameters.some(isOptionsParameter)) found.add(name);
  };
  for (const entry of ENTRY_POINTS) {
    const source = program.getSourceFile(path.join(ROOT, entry));
    const moduleSymbol = source === undefined ? undefined : checker.getSymbolAtLocation(source);
    if (moduleSymbol === undefined) throw new Error(`${entry} is not a module`);
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      for (const decl of symbol.declarations ?? []) {
        if (ts.isFunctionDeclaration(decl)) {
          // Overloads are the public signatures; a body with overloads is not one.
          const overloaded = (symbol.declarations ?? []).filter(ts.isFunctionDeclaration).length > 1;
          if (!(overloaded && decl.body !== undefined)) consider(exported.name, decl);
        }
        if (!ts.isClassDeclaration(decl)) continue;
        for (const member of decl.members) {
          if (!ts.isMethodDeclaration(member) && !ts.isConstructorDeclaration(member)) continue;
          if (member.name !== undefined && ts.isPrivateIdentifier(member.name)) continue;
          const modifiers = ts.getCombinedModifierFlags(member);
          if (modifiers & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
          const memberName = ts.isConstructorDeclaration(member) ? 'constructor' : member.name.getText();
          const siblings = decl.members.filter(
            (m) => (ts.isMethodDeclaration(m) || ts.isConstructorDeclaration(m)) && (m.name?.getText() ?? 'constructor') === memberName,
          );
          if (siblings.length > 1 && member.body !== undefined) continue;
          consider(`${exported.name}.${memberName}`, member);
        }
      }
    }
  }
  return [...found].sort();
}

function coded(code: ProgrammerErrorCode, message: RegExp): unknown {
  return expect.objectContaining({ name: 'TypeError', code, message: expect.stringMatching(message) });
}

/** What `row.call(agent, options)` threw or rejected with, checked to be of the kind the row says. */
async function failure(row: Row, agent: Agent, options: unknown): Promise<unknown> {
  let result: unknown;
  try {
    result = row.call(agent, options);
  } catch (err) {
    if (row.kind === 'async') throw new Error(`threw synchronously instead of rejecting: ${String(err)}`, { cause: err });
    return err;
  }
  if (row.kind === 'sync') throw new Error('returned instead of throwing');
  return (result as Promise<unknown>).then(
    () => {
      throw new Error('resolved instead of rejecting');
    },
    (err: unknown) => err,
  );
}

describe('options arguments', () => {
  it('the table names every public entry point with an options parameter', () => {
    expect(Object.keys(TABLE).sort()).toStrictEqual(scanPublicOptionsParameters());
  }, 60_000);

  for (const [name, row] of Object.entries(TABLE)) {
    it(`${name}: null, an array or a primitive as options is ERR_INVALID_ARG_TYPE naming "options"`, async () => {
      await using agent = await Agent.builder().build();
      for (const [value, got] of [
        [null, 'Received null'],
        [[], 'Received an instance of Array'],
        ['fast', "Received type string \\('fast'\\)"],
        [5, 'Received type number \\(5\\)'],
        [() => undefined, 'Received function'],
      ] as const) {
        const err = await failure(row, agent, value);
        expect(err, `${name} with ${String(value)}`).toBeInstanceOf(TypeError);
        expect(err).toEqual(coded('ERR_INVALID_ARG_TYPE', new RegExp(`^The "options" argument must be of type object\\. ${got}`)));
      }
    });

    if (!row.signal) continue;
    it(`${name}: a signal that is no AbortSignal is ERR_INVALID_ARG_TYPE naming "options.signal"`, async () => {
      await using agent = await Agent.builder().build();
      for (const [value, got] of [
        [null, 'Received null'],
        [{}, 'Received an instance of Object'],
        [true, 'Received type boolean \\(true\\)'],
      ] as const) {
        const err = await failure(row, agent, { signal: value });
        expect(err).toEqual(
          coded('ERR_INVALID_ARG_TYPE', new RegExp(`^The "options\\.signal" property must be an instance of AbortSignal\\. ${got}`)),
        );
      }
    });
  }

  it('undefined options, and an undefined signal, mean "not given"', async () => {
    await using agent = await Agent.builder().build();
    for (const options of [undefined, {}, { signal: undefined }]) {
      await agent.joinNetwork(o(options));
      const sub = await agent.subscribe('t', o(options));
      expect(await agent.publish('t', 'x', o(options))).toMatch(/^[0-9a-f]{64}$/);
      await sub.unsubscribe();
      await agent.membership.events(o(options)).return?.();
      await agent.presence.events(o(options)).return?.();
      await agent.transport.events(o(options)).return?.();
      await agent.rendezvous.register(undefined, o(options));
      await agent.rendezvous.unregister(o(options));
    }
    expect(() => Agent.builder().withLogger(() => undefined, undefined)).not.toThrow();
  });

  it('rendezvous.register(null): with one argument, null is the options', async () => {
    await using agent = await Agent.builder().build();
    await expect(agent.rendezvous.register(o(null))).rejects.toEqual(
      coded('ERR_INVALID_ARG_TYPE', /^The "options" argument must be of type object\. Received null$/),
    );
  });

  it('an options bag from another realm passes: a signal is recognised by its aborted property', async () => {
    await using agent = await Agent.builder().build();
    const foreign = { aborted: false, addEventListener: (): void => undefined, removeEventListener: (): void => undefined };
    await expect(agent.publish('t', 'x', { signal: foreign as unknown as AbortSignal })).resolves.toMatch(/^[0-9a-f]{64}$/);
  });
});
