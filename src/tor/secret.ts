import { inspect } from 'node:util';

export const REDACTED = '<redacted>';

/**
 * A value that must never be printed: control passwords, onion private keys, client-auth private keys,
 * `${env:}`/`${file:}` interpolations. Every way JavaScript turns an object into text prints
 * `<redacted>`; only `reveal()` gives the value, and only the command encoder should call it.
 */
export class Secret<T = string> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  reveal(): T {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}

export function isSecret(value: unknown): value is Secret<unknown> {
  return value instanceof Secret;
}

export type MaybeSecret = string | Secret<string>;

export function reveal(value: MaybeSecret): string {
  return typeof value === 'string' ? value : value.reveal();
}
