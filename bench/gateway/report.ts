/** The gateway benchmark's tables: each comparison with the peer's number from the same run. */
import type { MemoryPeaks } from './processes';

/** One comparison of Veil against a peer doing the same work on the same study. */
export interface Comparison {
  what: string;
  /** Seconds Veil took. */
  veil: number;
  /** Seconds the peer took. */
  peer: number;
  peerName: string;
  /** Throughput comparisons (ratio = Veil / peer speed, aim a minimum); else time (ratio = Veil / peer time, aim a maximum). */
  higherIsBetter: boolean;
  bytes: number;
  instances: number;
  aim: number;
}

const rate = (c: Comparison, seconds: number) =>
  `${(c.bytes / 1e6 / seconds).toFixed(0)} MB/s, ${(c.instances / seconds).toFixed(0)} inst/s`;

/** Prints the comparisons as a Markdown table, saying plainly when an aim is missed. */
export function printComparisons(results: Comparison[]): void {
  console.log('| measurement | Veil | peer (same run) | ratio | aim | result |');
  console.log('|---|---|---|---|---|---|');
  for (const c of results) {
    // Throughput ratio for the push side (Veil speed / peer speed), time ratio for retrieval.
    const ratio = c.higherIsBetter ? c.peer / c.veil : c.veil / c.peer;
    const ok = c.higherIsBetter ? ratio >= c.aim : ratio <= c.aim;
    const aim = c.higherIsBetter ? `>= ${c.aim.toFixed(2)}x speed` : `<= ${c.aim.toFixed(2)}x time`;
    console.log(
      `| ${c.what} | ${c.veil.toFixed(2)} s (${rate(c, c.veil)}) | ${c.peerName}: ${c.peer.toFixed(2)} s (${rate(c, c.peer)}) | ${ratio.toFixed(2)} | ${aim} | ${ok ? 'ok' : 'MISSED'} |`,
    );
  }
}

/**
 * Prints the C-STORE accept against what the acknowledgement rule alone costs on this volume:
 * storescp does not fsync, so a storescp that made each instance durable would take at least its
 * own time plus the durable writes (both measured in this run).
 */
export function printAcceptFloor(a: {
  veil: number;
  storescp: number;
  durable: number;
  instances: number;
}): void {
  const floor = a.storescp + a.durable;
  const ms = (s: number) => `${((s * 1000) / a.instances).toFixed(1)} ms`;
  console.log(
    `C-STORE accept against its floor (same run): making each instance durable alone (write, ` +
      `fsync, rename, fsync folder, one after the other) took ${a.durable.toFixed(2)} s ` +
      `(${ms(a.durable)} per instance); storescp + that = ${floor.toFixed(2)} s ` +
      `(${ms(floor)} per instance); Veil ${a.veil.toFixed(2)} s (${ms(a.veil)} per instance): ` +
      `${(floor / a.veil).toFixed(2)}x the speed of a storescp that fsyncs, ` +
      `${(a.storescp / a.veil).toFixed(2)}x storescp as it is.`,
  );
}

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

/** Prints peak RSS per phase and the gateway's growth as the study grows. */
export function printMemory(m: {
  phases: [string, MemoryPeaks][];
  growth: Record<'first' | 'all' | 'withDx', [string, MemoryPeaks]>;
  highWater: number | undefined;
  workers: { processes: number; concurrency: number };
}): void {
  console.log(
    `Peak resident memory (VmRSS sampled every 100 ms; workers.processes=${m.workers.processes}, ` +
      `workers.concurrency=${m.workers.concurrency}: sandboxed protect and reveal children):`,
  );
  console.log('');
  console.log(
    '| phase | gateway process | largest worker child | all worker children | children |',
  );
  console.log('|---|---|---|---|---|');
  for (const [name, p] of m.phases) {
    console.log(
      `| ${name} | ${mb(p.gateway)} | ${mb(p.workerMax)} | ${mb(p.workersSum)} | ${p.workers} |`,
    );
  }
  if (m.highWater !== undefined)
    console.log(`| whole run (gateway VmHWM) | ${mb(m.highWater)} | | | |`);
  const first = m.growth.first[1].gateway;
  const all = m.growth.all[1].gateway;
  const withDx = m.growth.withDx[1].gateway;
  const growth = all / first;
  console.log('');
  console.log(
    `Gateway peak RSS as the study grows: ${m.growth.first[0]} ${mb(first)}, ${m.growth.all[0]} ${mb(all)} ` +
      `(${growth.toFixed(2)}x), ${m.growth.withDx[0]} ${mb(withDx)} (${(withDx / first).toFixed(2)}x): ` +
      `${growth <= 1.2 ? 'flat (aim: flat, <= 1.2x)' : 'GROWS (aim: flat, <= 1.2x)'}.`,
  );
}
