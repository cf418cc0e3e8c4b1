import type { z } from 'zod';
import { PosternError, isPosternError } from '../errors/postern-error.js';
import type { Backend, Watcher } from './backend.js';

/**
 * A typed set of JSON resources under one key prefix (`/users/alice`, `/roles/dev`). Every value
 * is checked against its schema when read, so a hand-edited or older record fails loudly with its
 * key instead of deep inside a handler.
 */
export class Collection<S extends z.ZodType> {
  constructor(
    readonly backend: Backend,
    /** Ends with a slash: `/users/`. */
    readonly prefix: string,
    private readonly schema: S,
    /** For messages: "user", "role". */
    private readonly noun: string,
  ) {}

  key(name: string): string {
    return this.prefix + name;
  }

  async get(name: string): Promise<z.output<S> | undefined> {
    const item = await this.backend.get(this.key(name));
    return item && this.parse(item.key, item.value);
  }

  /** Like get, but a missing item is a NOT_FOUND error that says what to do. */
  async require(name: string, hint = `list them with \`postern ctl get ${this.noun}s\``): Promise<z.output<S>> {
    const value = await this.get(name);
    if (value === undefined) throw new PosternError('NOT_FOUND', `${this.noun} "${name}" does not exist; ${hint}`);
    return value;
  }

  async create(name: string, value: z.input<S>, expires?: Date): Promise<void> {
    try {
      await this.backend.compareAndSwap(this.key(name), null, JSON.stringify(value), expires ? { expires } : undefined);
    } catch (err) {
      if (isPosternError(err, 'COMPARE_FAILED')) throw new PosternError('ALREADY_EXISTS', `${this.noun} "${name}" exists already`);
      throw err;
    }
  }

  async put(name: string, value: z.input<S>, expires?: Date): Promise<void> {
    await this.backend.put(this.key(name), JSON.stringify(value), expires ? { expires } : undefined);
  }

  /**
   * Read-modify-write with compare-and-swap, retried when another writer got in between. The
   * item keeps its expiry unless `change` returns a new one.
   */
  async update(name: string, change: (current: z.output<S>) => { value: z.input<S>; expires?: Date }): Promise<z.output<S>> {
    for (let attempt = 0; ; attempt++) {
      const item = await this.backend.get(this.key(name));
      if (!item) throw new PosternError('NOT_FOUND', `${this.noun} "${name}" does not exist`);
      const next = change(this.parse(item.key, item.value));
      const expires = next.expires ?? item.expires;
      try {
        await this.backend.compareAndSwap(item.key, item.revision, JSON.stringify(next.value), expires ? { expires } : undefined);
        return this.schema.parse(next.value) as z.output<S>;
      } catch (err) {
        if (!isPosternError(err, 'COMPARE_FAILED') || attempt >= 20) throw err;
      }
    }
  }

  async list(): Promise<z.output<S>[]> {
    const items = await this.backend.range(this.prefix);
    return items.map((item) => this.parse(item.key, item.value));
  }

  delete(name: string): Promise<boolean> {
    return this.backend.delete(this.key(name));
  }

  watch(): Watcher {
    return this.backend.watch(this.prefix);
  }

  parse(key: string, text: string): z.output<S> {
    const result = this.schema.safeParse(JSON.parse(text));
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw new PosternError('INTERNAL', `stored ${this.noun} at ${key} is malformed (${issue.path.join('.') || 'value'}: ${issue.message})`);
    }
    return result.data as z.output<S>;
  }
}
