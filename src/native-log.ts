/**
 * The JavaScript end of the Rust log bridge (`crates/x0x-napi/src/logging`).
 *
 * Rust filters every `tracing` callsite against what this module tells it:
 * the `debug` package's parsed `DEBUG` setting and the most verbose level
 * of any open agent's logger. Only enabled events are formatted in Rust;
 * they arrive here in batches and go to `debug` (levels error to debug, for
 * namespaces `DEBUG` names) and to every open agent's logger (up to its
 * level). While nothing is enabled the bridge is not even installed.
 *
 * Rust records are process-wide: every open agent's logger receives the
 * Rust records of every agent in the process.
 *
 * `DEBUG` is read when an agent is built or closed; a later
 * `debug.enable()` reaches the Rust side at the next build or close.
 *
 * The Rust side has one sink per process: with agents in several worker
 * threads, Rust records go to the thread that turned logging on last.
 *
 * @internal
 * @module
 */

import createDebug = require('debug');

import type { NativeLogBatch, NativeLogFilter, NativeLogRecord } from './native.js';
import { loadBinding } from './native.js';
import { admits, callLogger, debugSink, isLogLevel, printRecord } from './logging.js';
import type { LogLevel, LogRecord, LogTarget, Logger } from './logging.js';

interface Attached {
  readonly logger: Logger;
  readonly level: LogLevel;
}

/** The loggers of open agents. */
const attached = new Set<Attached>();

let sinkSet = false;
/** What Rust was last told; starts as "off", which needs no bridge at all. */
let current: NativeLogFilter = { debugNames: [], debugSkips: [] };

/** Most verbose first, so the first level some logger takes wins. */
const VERBOSE_FIRST: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

function wanted(): NativeLogFilter {
  const levels = new Set([...attached].map((a) => a.level));
  const loggerLevel = VERBOSE_FIRST.find((l) => levels.has(l));
  return {
    debugNames: [...createDebug.names],
    debugSkips: [...createDebug.skips],
    ...(loggerLevel === undefined ? {} : { loggerLevel }),
  };
}

function same(a: NativeLogFilter, b: NativeLogFilter): boolean {
  return (
    a.loggerLevel === b.loggerLevel &&
    a.debugNames.join('\n') === b.debugNames.join('\n') &&
    a.debugSkips.join('\n') === b.debugSkips.join('\n')
  );
}

/** Tells Rust what is wanted now, if that changed. */
function sync(): void {
  const next = wanted();
  if (same(next, current)) return;
  try {
    const binding = loadBinding();
    if (!sinkSet) {
      binding.setLogSink(deliver);
      sinkSet = true;
    }
    binding.setLogFilter(next);
    current = next;
  } catch {
    // Logging must not break the agent; without the addon, building the
    // agent reports the real problem right after.
  }
}

function toRecord(r: NativeLogRecord): LogRecord {
  const fields: Record<string, string | number | boolean> = {};
  for (const f of r.fields) fields[f.name] = f.value;
  return {
    level: isLogLevel(r.level) ? r.level : 'info',
    // Rust names only the namespaces LogTarget lists (logging/namespace.rs).
    target: r.namespace as LogTarget,
    message: r.message,
    fields,
    module: r.target,
  };
}

function route(record: LogRecord): void {
  for (const a of attached) {
    if (admits(a.level, record.level)) callLogger(a.logger, record);
  }
  // Trace is for loggers only (see LoggerOptions.level): per-packet noise.
  if (record.level === 'trace') return;
  const sink = debugSink(record.target);
  if (sink !== undefined) printRecord(sink, record);
}

/**
 * Called by Rust on this thread with what was queued. It must not throw:
 * an exception here would be an uncaught exception in the application.
 */
function deliver(batch: NativeLogBatch): void {
  try {
    for (const r of batch.records) route(toRecord(r));
    if (batch.dropped > 0) {
      route({
        level: 'warn',
        target: 'x0x:core',
        message: 'log records dropped: the queue from Rust was full',
        fields: { dropped: batch.dropped },
      });
    }
  } catch {
    // Nothing sensible to do: logging must not break the application.
  }
}

/**
 * Starts bridging for one agent: its logger (if any) receives Rust records
 * from now on, and `DEBUG` is read again. Returns the function that stops.
 */
export function attachNativeLog(logger: Attached | undefined): () => void {
  const entry = logger === undefined ? undefined : { ...logger };
  if (entry !== undefined) attached.add(entry);
  sync();
  let detached = false;
  return () => {
    if (detached) return;
    detached = true;
    if (entry !== undefined) attached.delete(entry);
    sync();
  };
}
