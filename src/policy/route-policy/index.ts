/**
 * The inline route policy language for TCP routes (docs/policy-language.md).
 *
 *   const policy = parseRoutePolicy(route.policy, 'proxy.routes[0].policy'); // once, at config load
 *   const decision = evaluateRoutePolicy(policy, { user, sourceIp });      // per connection
 */
export { evaluateRoutePolicy, parseRoutePolicy, routePolicyProblems, signingInCouldAllow, type RoutePolicy, type RoutePolicyProblem } from './policy.js';
export { CRITERIA } from './criteria.js';
export { OPERATORS, type Operator } from './operators.js';
export { STRING_MATCHERS, LIST_MATCHERS } from './string-matcher.js';
export type { PolicyInput, PolicyUser } from './criterion.js';
export type { Decision } from '../access-checker.js';
