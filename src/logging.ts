/**
 * Log records of an agent, from both halves of the package:
 * - the TypeScript side: lifecycle (built, joining, joined, closing,
 *   closed), membership events and connection events;
 * - the Rust core and its libraries (membership, pub/sub, QUIC): their
 *   `tracing` events, bridged by `native-log.ts`.
 *
 * They go to the `debug` package under the targets below (turn them on
 * with `DEBUG=x0x:*`, or finer, e.g. `DEBUG=x0x:membership`) and to the
 * application's own logger given to `AgentBuilder.withLogger`.
 *
 * @module
 */

import createDebug = require('debug');

/**
 * Severity of a {@link LogRecord}, as pino names its levels (most severe
 * first). Only the Rust core logs at `trace`, and only to a logger that asks
 * for it ({@link LoggerOptions.level}).
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * Where a record comes from; also its `debug` namespace.
 * - `x0x:agent`: lifecycle of the agent (TypeScript);
 * - `x0x:membership`: `peer-joined`, `peer-suspected`, `peer-left`
 *   (TypeScript), and the HyParView/SWIM library (Rust);
 * - `x0x:transport`: connections opening and closing (TypeScript), and
 *   the QUIC transport (Rust);
 * - `x0x:pubsub`: the Plumtree pub/sub library (Rust);
 * - `x0x:core:<module>`: the Rust core, by module, e.g. `x0x:core:agent`;
 * - `x0x:gossip:<name>`: other saorsa-gossip libraries (Rust);
 * - `x0x:deps:<crate>`: any other Rust library.
 */
export type LogTarget =
  | 'x0x:agent'
  | 'x0x:membership'
  | 'x0x:transport'
  | 'x0x:pubsub'
  | 'x0x:core'
  | `x0x:core:${string}`
  | `x0x:gossip:${string}`
  | `x0x:deps:${string}`;

/** One log record, shaped to be handed to pino, winston or a console. */
export interface LogRecord {
  /** Severity; a pino logger has a method of this name. */
  readonly level: LogLevel;
  /** The subsystem that logged it, which is also its `debug` namespace. */
  readonly target: LogTarget;
  /** A short description, without the fields. */
  readonly message: string;
  /** Structured details: ids, addresses, reasons, error codes. */
  readonly fields: Readonly<Record<string, string | number | boolean>>;
  /**
   * Records from Rust only: the `tracing` target, usually the Rust module
   * path (e.g. `saorsa_gossip_membership`).
   */
  readonly module?: string;
}

/**
 * Receives the TypeScript-side records of the agent built with it and,
 * while that agent is open, the Rust core's records of the whole process
 * (Rust records do not say which agent logged them), up to
 * {@link LoggerOptions.level}. Called synchronously on the JavaScript
 * thread; a logger that throws is ignored, so logging cannot break an
 * agent.
 *
 * @param record - one record; it may be kept, but it is shared by every
 *   logger the same Rust record goes to, so do not change it
 * @example
 * ```ts
 * import pino from 'pino';
 * const log = pino();
 * Agent.builder().withLogger((r) => log[r.level]({ target: r.target, ...r.fields }, r.message));
 * ```
 */
export type Logger = (record: LogRecord) => void;

/** Options of `AgentBuilder.withLogger`. */
export interface LoggerOptions {
  /**
   * The most verbose level the logger receives. The Rust core formats no
   * record above it, so `'info'` is cheaper than `'debug'` on a busy node.
   * @defaultValue `'debug'`
   */
  readonly level?: LogLevel;
}

const LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug', 'trace'];

/**
 * Whether a logger set to `limit` takes a record at `level`.
 *
 * @internal
 */
export function admits(limit: LogLevel, level: LogLevel): boolean {
  return LEVELS.indexOf(level) <= LEVELS.indexOf(limit);
}

/**
 * Whether `value` names a {@link LogLevel}.
 *
 * @internal
 */
export function isLogLevel(value: unknown): value is LogLevel {
  return LEVELS.includes(value as LogLevel);
}

/**
 * Rust targets map to a few dozen namespaces at most; the cap only guards
 * against a library that logs under generated target names.
 */
const MAX_SINKS = 256;

/** One `debug` instance per target, shared by every agent. */
const sinks = new Map<string, createDebug.Debugger>();

/**
 * The `debug` instance of `target`, or `undefined` when `DEBUG` does not
 * name it (or too many targets were seen to keep one more).
 *
 * @internal
 */
export function debugSink(target: string): createDebug.Debugger | undefined {
  let sink = sinks.get(target);
  if (sink === undefined) {
    if (!createDebug.enabled(target) || sinks.size >= MAX_SINKS) return undefined;
    sink = createDebug(target);
    sinks.set(target, sink);
  }
  return sink.enabled ? sink : undefined;
}

/**
 * One stderr line: level, the Rust module when there is one, message and
 * fields.
 *
 * @internal
 */
export function printRecord(sink: createDebug.Debugger, record: LogRecord): void {
  const details = Object.entries(record.fields)
    .map(([key, value]) => ` ${key}=${String(value)}`)
    .join('');
  const origin = record.module === undefined ? '' : ` ${record.module}:`;
  sink('%s', `${record.level}${origin} ${record.message}${details}`);
}

/**
 * The log of one agent.
 *
 * @internal
 */
export class AgentLog {
  readonly #logger: Logger | undefined;
  readonly #level: LogLevel;

  constructor(logger: Logger | undefined, level: LogLevel = 'debug') {
    this.#logger = logger;
    this.#level = level;
  }

  /** The logger and its level, for the Rust bridge; `undefined` without one. */
  get logger(): { readonly logger: Logger; readonly level: LogLevel } | undefined {
    return this.#logger === undefined ? undefined : { logger: this.#logger, level: this.#level };
  }

  /**
   * Whether a record for `target` would go anywhere; callers skip the work
   * of producing records (e.g. an event loop) when it would not.
   */
  enabled(target: LogTarget): boolean {
    return this.#logger !== undefined || debugSink(target) !== undefined;
  }

  /** Hands one record to the logger and to `debug`. */
  emit(level: LogLevel, target: LogTarget, message: string, fields: LogRecord['fields'] = {}): void {
    const record = { level, target, message, fields };
    if (this.#logger !== undefined && admits(this.#level, level)) callLogger(this.#logger, record);
    const sink = debugSink(target);
    if (sink !== undefined) printRecord(sink, record);
  }
}

/**
 * Calls a logger, ignoring what it throws: see {@link Logger}, a broken
 * logger must not break the agent.
 *
 * @internal
 */
export function callLogger(logger: Logger, record: LogRecord): void {
  try {
    logger(record);
  } catch {
    // Ignored on purpose (see above).
  }
}
