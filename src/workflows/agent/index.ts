export { opsAgent } from './workflow';
