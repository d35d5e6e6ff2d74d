// The only bundle entry: workflows alone.
export { deploy } from './deploy';
export { opsAgent } from './agent';
