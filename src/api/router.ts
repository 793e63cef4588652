/**
 * The routing table: method + path pattern → handler. Patterns use Docker's
 * (gorilla/mux) syntax: `{id}` matches one path segment, `{name:.*}` matches
 * the rest including slashes (image names like 127.0.0.1:5000/a/b:tag do).
 * Routes are tried in the order they were added, so fixed paths such as
 * /images/json are registered before /images/{name:.*}/json.
 */
import type { RequestContext } from './context.ts';

export type Handler = (ctx: RequestContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: string;
  regex: RegExp;
  params: string[];
  handler: Handler;
}

export interface RouteMatch {
  handler: Handler;
  params: Record<string, string>;
  pattern: string;
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    const { regex, params } = compilePattern(pattern);
    this.routes.push({ method: method.toUpperCase(), pattern, regex, params, handler });
    return this;
  }

  get(pattern: string, handler: Handler): this {
    return this.add('GET', pattern, handler);
  }
  post(pattern: string, handler: Handler): this {
    return this.add('POST', pattern, handler);
  }
  put(pattern: string, handler: Handler): this {
    return this.add('PUT', pattern, handler);
  }
  delete(pattern: string, handler: Handler): this {
    return this.add('DELETE', pattern, handler);
  }
  head(pattern: string, handler: Handler): this {
    return this.add('HEAD', pattern, handler);
  }

  /**
   * The route for `method path`; `undefined` when no pattern matches at all,
   * `{ methodNotAllowed: true }` when the path exists under another method.
   */
  match(method: string, path: string): RouteMatch | { methodNotAllowed: true } | undefined {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (!m) continue;
      if (route.method !== method.toUpperCase()) {
        pathMatched = true;
        continue;
      }
      const params: Record<string, string> = {};
      route.params.forEach((name, i) => {
        params[name] = safeDecode(m[i + 1] ?? '');
      });
      return { handler: route.handler, params, pattern: route.pattern };
    }
    return pathMatched ? { methodNotAllowed: true } : undefined;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function compilePattern(pattern: string): { regex: RegExp; params: string[] } {
  const params: string[] = [];
  let source = '';
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i]!;
    if (ch === '{') {
      const close = pattern.indexOf('}', i);
      if (close < 0) throw new Error(`route pattern "${pattern}": unclosed "{"`);
      const inner = pattern.slice(i + 1, close);
      const colon = inner.indexOf(':');
      const name = colon < 0 ? inner : inner.slice(0, colon);
      const custom = colon < 0 ? undefined : inner.slice(colon + 1);
      params.push(name);
      // `.*` in Docker's routes means "one or more of anything"; an empty name is never valid.
      source += custom === undefined ? '([^/]+)' : custom === '.*' ? '(.+)' : `(${custom})`;
      i = close + 1;
    } else {
      source += ch.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      i++;
    }
  }
  return { regex: new RegExp(`^${source}$`), params };
}
