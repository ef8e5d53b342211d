export { buildAdmin } from './app.js';
export { LIMITS, type AdminDeps } from './deps.js';
export { PROBLEM_TITLES, type ProblemBody } from './http/problem.js';
