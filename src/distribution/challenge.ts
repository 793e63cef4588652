/**
 * WWW-Authenticate parsing (RFC 9110 §11.6.1). One header may carry several
 * challenges (`Basic realm="x", Bearer realm="y",service="z"`), parameter
 * values may be quoted with backslash escapes and contain commas (scopes do:
 * `repository:a:pull,push`), so a regex split is not enough.
 */
import type { AuthChallenge } from './types.ts';

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const headers = Array.isArray(header) ? header : [header];
  const out: AuthChallenge[] = [];
  for (const h of headers) out.push(...parseOne(h));
  return out;
}

function parseOne(input: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const n = input.length;
  const skipSpace = () => {
    while (i < n && (input[i] === ' ' || input[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(input[i]!)) i++;
    return input.slice(start, i);
  };
  // Unquoted values should be tokens, but servers send bare URLs too: take up to the next comma or space.
  const readBare = (): string => {
    const start = i;
    while (i < n && input[i] !== ',' && input[i] !== ' ' && input[i] !== '\t') i++;
    return input.slice(start, i);
  };
  const readQuoted = (): string => {
    // input[i] === '"'
    i++;
    let value = '';
    while (i < n && input[i] !== '"') {
      if (input[i] === '\\' && i + 1 < n) i++;
      value += input[i];
      i++;
    }
    i++; // closing quote (or end)
    return value;
  };

  let current: AuthChallenge | undefined;
  while (i < n) {
    skipSpace();
    if (input[i] === ',') {
      i++;
      continue;
    }
    const word = readToken();
    if (!word) {
      i++; // stray character: skip rather than loop forever
      continue;
    }
    skipSpace();
    if (current && input[i] === '=') {
      // auth-param of the current challenge (token68 values like `abc==` end with '=' too,
      // but they follow the scheme directly and registries do not send them).
      i++;
      skipSpace();
      const value = input[i] === '"' ? readQuoted() : readBare();
      current.params[word.toLowerCase()] = value;
      continue;
    }
    if (!current && input[i] === '=') {
      // A parameter before any scheme: malformed; ignore it.
      i++;
      skipSpace();
      if (input[i] === '"') readQuoted();
      else readToken();
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    challenges.push(current);
  }
  return challenges;
}
