import { describe, expect, it } from 'vitest';
import { splitSshArgs } from './ssh.js';

describe('splitSshArgs', () => {
  it.each([
    [['web-1'], [], 'web-1', []],
    [['root@web-1', 'uptime'], [], 'root@web-1', ['uptime']],
    [['-L', '8080:localhost:80', '-N', 'root@web-1'], ['-L', '8080:localhost:80', '-N'], 'root@web-1', []],
    [['-L8080:localhost:80', 'web-1', 'ls', '-l'], ['-L8080:localhost:80'], 'web-1', ['ls', '-l']],
    [['-vtD', '1080', 'web-1'], ['-vtD', '1080'], 'web-1', []],
    [['-oUser=b', 'web-1'], ['-oUser=b'], 'web-1', []],
    [['-R', '9000:localhost:9000', '--', 'web-1', 'true'], ['-R', '9000:localhost:9000'], 'web-1', ['true']],
  ])('%j', (args, options, target, command) => {
    expect(splitSshArgs(args)).toEqual({ options, target, command });
  });

  it('asks for the node when there is none', () => {
    expect(() => splitSshArgs(['-L', '1:a:1'])).toThrow(/which node/);
  });
});
