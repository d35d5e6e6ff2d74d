/**
 * An exporter a test drives, speaking OpenCost's metric names (https://opencost.io/docs/integrations/metrics) and
 * cAdvisor's container CPU and memory: two pods of one namespace on two priced nodes, their CPU counters advanced by
 * the test's own clock at known rates. A real Prometheus scrapes it; the cost sources read it back through PromQL.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';

/** One pod of a workload: where it runs, what OpenCost allocates it, and the CPU it uses per second. */
export interface FakePod {
  pod: string;
  node: string;
  cpuAllocation: number;
  memoryAllocationBytes: number;
  memoryWorkingSetBytes: number;
  cpuPerSecond: number;
}

export interface FakeOpenCost {
  address: string;
  stop(): Promise<void>;
}

/** Serves the metrics at /metrics on a free loopback port, the CPU counters advancing every 100 ms. */
export async function startFakeOpenCost(options: {
  namespace: string;
  pods: FakePod[];
  nodes: Record<string, { cpuHourly: number; ramHourly: number }>;
}): Promise<FakeOpenCost> {
  const registry = new Registry();
  const gauge = (name: string, labelNames: string[]) =>
    new Gauge({ name, help: name, labelNames, registers: [registry] });
  const cpuAllocation = gauge('container_cpu_allocation', ['namespace', 'pod', 'container', 'node']);
  const memoryAllocation = gauge('container_memory_allocation_bytes', ['namespace', 'pod', 'container', 'node']);
  const workingSet = gauge('container_memory_working_set_bytes', ['namespace', 'pod', 'container']);
  const cpuHourly = gauge('node_cpu_hourly_cost', ['node', 'instance_type']);
  const ramHourly = gauge('node_ram_hourly_cost', ['node', 'instance_type']);
  const cpuUsage = new Counter({
    name: 'container_cpu_usage_seconds_total',
    help: 'cAdvisor CPU',
    labelNames: ['namespace', 'pod', 'container'],
    registers: [registry],
  });
  const { namespace } = options;
  for (const [node, price] of Object.entries(options.nodes)) {
    cpuHourly.set({ node, instance_type: 'm5.large' }, price.cpuHourly);
    ramHourly.set({ node, instance_type: 'm5.large' }, price.ramHourly);
  }
  for (const p of options.pods) {
    const labels = { namespace, pod: p.pod, container: 'app' };
    cpuAllocation.set({ ...labels, node: p.node }, p.cpuAllocation);
    memoryAllocation.set({ ...labels, node: p.node }, p.memoryAllocationBytes);
    workingSet.set(labels, p.memoryWorkingSetBytes);
  }
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    for (const p of options.pods) {
      cpuUsage.inc({ namespace, pod: p.pod, container: 'app' }, (p.cpuPerSecond * (now - last)) / 1_000);
    }
    last = now;
  }, 100);
  const server: Server = createServer((req, res) => {
    void registry.metrics().then((body) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    async stop() {
      clearInterval(timer);
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
