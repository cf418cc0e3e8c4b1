import { describe, expect, it } from 'vitest';
import { lineProblems } from '../wire/role-problems.js';
import { checkDocuments } from './documents.js';

describe('checkDocuments', () => {
  it('names the line in the file of a problem in a later document', () => {
    const text = `kind: role
version: v1
metadata: { name: first }
---
kind: role
version: v1
metadata: { name: second }
spec:
  allow:
    logins: [ubuntu]
    node_labels: dev
`;
    let message = '';
    try {
      checkDocuments(text, 'roles.yaml');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^roles\.yaml \(document 2\): role "second" is invalid:\n/);
    expect(lineProblems(message)).toEqual([{ line: 11, text: expect.stringMatching(/^spec\.allow\.node_labels: write a mapping/) }]);
  });
});
