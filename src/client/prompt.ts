import { createInterface } from 'node:readline';
import { PosternError } from '../errors/postern-error.js';

/**
 * Asks a question on the terminal; with `hidden`, what is typed is not echoed (passwords).
 * Without a terminal there is nobody to ask: the error names the flag to use instead.
 */
export async function ask(question: string, opts: { hidden?: boolean; flag: string }): Promise<string> {
  if (!process.stdin.isTTY) throw new PosternError('USAGE', `no terminal to ask "${question.trim()}"; pass it with ${opts.flag}`);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (opts.hidden) {
    // Echo nothing but the prompt itself while the answer is typed.
    const output = rl as unknown as { _writeToOutput: (s: string) => void };
    const write = output._writeToOutput.bind(rl);
    output._writeToOutput = (s: string) => write(s.startsWith(question) ? question : '');
  }
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    if (opts.hidden) process.stderr.write('\n');
    rl.close();
  }
}

/** The whole of standard input, without its final newline (for --password-stdin). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
