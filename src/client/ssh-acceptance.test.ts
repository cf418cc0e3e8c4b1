import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/harness/temp.js';
import { lastSshAcceptance, recordSshAcceptance } from './ssh-acceptance.js';

describe('SSH acceptances in a profile', () => {
  it('remembers the last login a node accepted, per node', () => {
    const dir = tempDir('postern-profile-');
    expect(lastSshAcceptance(dir, 'web-1')).toBeUndefined();
    recordSshAcceptance(dir, 'web-1', 'root');
    recordSshAcceptance(dir, 'web-1', 'deploy');
    expect(lastSshAcceptance(dir, 'web-1')).toEqual({ login: 'deploy', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(lastSshAcceptance(dir, 'web-2')).toBeUndefined();
  });

  it('never fails the connection when the profile cannot be written', () => {
    const dir = tempDir('postern-profile-');
    writeFileSync(join(dir, 'ssh'), 'a file where the ssh directory should be');
    expect(() => recordSshAcceptance(dir, 'web-1', 'root')).not.toThrow();
    expect(lastSshAcceptance(dir, 'web-1')).toBeUndefined();
  });
});
