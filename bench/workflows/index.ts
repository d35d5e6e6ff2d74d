// The benchmark's bundle entry: opsflow's deploy as the worker runs it, and the bare comparison.
export { deploy } from '../../src/workflows/deploy';
export { bareDeploy } from './bare-deploy';
