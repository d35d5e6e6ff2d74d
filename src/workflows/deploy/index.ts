export { deploy } from './workflow';
