// The bare comparison's own bundle entry: bare Temporal carries none of opsflow's modules.
export { bareDeploy } from './bare-deploy';
