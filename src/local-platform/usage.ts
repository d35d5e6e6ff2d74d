/**
 * What each version's processes use: CPU time and resident memory, read from the kernel (/proc) once a second and kept
 * per (environment, service, version) like the request statistics, so a window of usage lines up with a window of
 * requests. The cost of a release per request is read from here (the `usage` cost source, `from: local`) and from the
 * `opsflow_process_*` series of /metrics. Linux only: elsewhere nothing is recorded and usage reads as unmeasured.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { currentBucket, seriesId, type SeriesKey } from './stats';

const BUCKET_MS = 1_000;

/** A running service process and the version it serves. */
export interface ProcessRef extends SeriesKey {
  pid: number;
}

/**
 * CPU time a process has used, in seconds: the time on CPU of each of its threads (/proc/<pid>/task/<tid>/schedstat,
 * nanoseconds, so a few requests' worth shows; Node's GC and I/O threads count too), else utime + stime of
 * /proc/<pid>/stat (clock ticks, 100 a second on Linux). null when unreadable.
 */
export function cpuSecondsOf(pid: number): number | null {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      // A thread that ended since the listing is skipped.
      ns += Number(readOrEmpty(`/proc/${pid}/task/${tid}/schedstat`).split(' ')[0] || 0);
    }
    if (Number.isFinite(ns) && ns > 0) return ns / 1e9;
  } catch {
    // No schedstat (a kernel without CONFIG_SCHED_INFO): the coarser ticks below.
  }
  try {
    // The command name may hold spaces and parentheses: fields are counted after its closing one.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / 100 : null;
  } catch {
    return null;
  }
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Resident memory of a process in bytes (VmRSS of /proc/<pid>/status); null when unreadable. */
export function residentBytesOf(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1_024 : null;
  } catch {
    return null;
  }
}

interface UsageBucket {
  second: number;
  cpuSeconds: number;
  /** Sum and count of the resident-memory readings in the second. */
  rssSum: number;
  readings: number;
}

/** A version's usage over a window: CPU seconds used, and the average resident memory (null: nothing read). */
export interface UsageSummary {
  cpuSeconds: number;
  memoryBytes: number | null;
}

/** Usage per series in one-second buckets, kept as long as the request statistics; `now` is injectable for tests. */
export class UsageStore {
  private readonly series = new Map<string, UsageBucket[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Adds CPU seconds used since the last reading, and one reading of resident memory (summed over processes). */
  record(key: SeriesKey, cpuSeconds: number, rssBytes: number | null): void {
    const bucket = currentBucket(this.series, seriesId(key), this.now(), (second) => ({
      second,
      cpuSeconds: 0,
      rssSum: 0,
      readings: 0,
    }));
    bucket.cpuSeconds += Math.max(0, cpuSeconds);
    if (rssBytes !== null) {
      bucket.rssSum += rssBytes;
      bucket.readings += 1;
    }
  }

  /** Usage over the last `windowMs`, counted in whole seconds as the request statistics are. */
  window(key: SeriesKey, windowMs: number): UsageSummary {
    const firstSecond = Math.floor((this.now() - windowMs) / BUCKET_MS);
    const buckets = (this.series.get(seriesId(key)) ?? []).filter((b) => b.second >= firstSecond);
    const readings = buckets.reduce((n, b) => n + b.readings, 0);
    return {
      // Microseconds: finer digits are the kernel's rounding.
      cpuSeconds: Math.round(buckets.reduce((sum, b) => sum + b.cpuSeconds, 0) * 1e6) / 1e6,
      memoryBytes: readings ? Math.round(buckets.reduce((sum, b) => sum + b.rssSum, 0) / readings) : null,
    };
  }
}

/**
 * Reads every service process's CPU time and memory each second and reports the CPU used since the previous reading
 * of the same process, per version. A process's first reading is its baseline: its start-up is not charged to the
 * requests it later serves.
 */
export class UsageSampler {
  private readonly lastCpu = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly processes: () => ProcessRef[],
    private readonly onUsage: (key: SeriesKey, cpuSeconds: number, rssBytes: number | null) => void,
    intervalMs = BUCKET_MS,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /** One reading of every process (exposed for tests). */
  sample(): void {
    const seen = new Set<number>();
    const byVersion = new Map<string, { key: SeriesKey; cpu: number; rss: number | null }>();
    for (const { pid, ...key } of this.processes()) {
      if (pid <= 0) continue;
      const cpu = cpuSecondsOf(pid);
      if (cpu === null) continue;
      seen.add(pid);
      const previous = this.lastCpu.get(pid);
      this.lastCpu.set(pid, cpu);
      const rss = residentBytesOf(pid);
      const id = seriesId(key);
      const entry = byVersion.get(id) ?? { key, cpu: 0, rss: null };
      entry.cpu += previous === undefined ? 0 : Math.max(0, cpu - previous);
      entry.rss = rss === null ? entry.rss : (entry.rss ?? 0) + rss;
      byVersion.set(id, entry);
    }
    for (const pid of this.lastCpu.keys()) if (!seen.has(pid)) this.lastCpu.delete(pid);
    for (const { key, cpu, rss } of byVersion.values()) this.onUsage(key, cpu, rss);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
