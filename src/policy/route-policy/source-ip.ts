import { criterionCondition, PolicyProblem, quote, type Criterion } from './criterion.js';
import { findRange, parseRange, type IpRange } from './ip.js';

/**
 * `source_ip: <address or CIDR, or a list of them>`: the client address (IPv4 or IPv6) is in one of
 * the ranges. An IPv4-mapped IPv6 client (`::ffff:10.0.0.1`) counts as its IPv4 address.
 */
export const sourceIp: Criterion = {
  name: 'source_ip',
  takesName: false,
  readsIdentity: false,
  example: '10.66.0.0/16',
  compile(value, path) {
    const ranges = compileRanges(value, path);
    const written = ranges.length === 1 ? ranges[0]!.text : `[${ranges.map((r) => r.text).join(', ')}]`;
    return criterionCondition(
      (input) => findRange(ranges, input.sourceIp) >= 0,
      (input) => {
        const range = ranges[findRange(ranges, input.sourceIp)]!;
        return range.single ? `source_ip is ${input.sourceIp}` : `source_ip ${range.text} contains ${input.sourceIp}`;
      },
      (input) => {
        const client = findRange(ranges, input.sourceIp) === -2 ? `client address ${quote(input.sourceIp)} is not an IP address` : `client ${input.sourceIp}`;
        return `source_ip in ${written} (${client})`;
      },
    );
  },
};

function compileRanges(value: unknown, path: string): IpRange[] {
  const one = (item: unknown, at: string): IpRange => {
    if (typeof item !== 'string') throw new PolicyProblem(at, 'write an IP address or CIDR range as a string, like 10.66.0.0/16');
    const range = parseRange(item);
    if ('problem' in range) throw new PolicyProblem(at, range.problem);
    return range;
  };
  if (Array.isArray(value)) {
    if (value.length === 0) throw new PolicyProblem(path, 'an empty list matches no address; list at least one, like [10.66.0.0/16]');
    return value.map((item, i) => one(item, `${path}[${i}]`));
  }
  if (typeof value !== 'string') throw new PolicyProblem(path, 'write an IP address or CIDR range, or a list of them, like [10.66.0.0/16, "fd00::/8"]');
  return [one(value, path)];
}
