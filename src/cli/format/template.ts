/**
 * A subset of Go's text/template — what `--format` strings use with Docker:
 * {{.Field}}, {{.A.B}}, {{json .}}, {{index .M "k"}}, {{join .L ", "}},
 * {{upper .X}}, {{lower .X}}, {{title .X}}, {{split .X ","}}, {{pad .X 1 2}},
 * {{truncate .X 5}}, {{len .X}}, {{printf "%s %d" .A .B}}, pipelines
 * ({{.X | upper}}), methods with arguments ({{.Label "k"}}: a function-valued
 * field of the data), {{if}}/{{else if}}/{{else}}/{{end}}, {{range}}, {{with}},
 * comparisons (eq ne lt le gt ge, and or not), and trim markers {{- -}}.
 * Values print as Go's %v would (<no value> for missing fields, [a b] for lists).
 */
import { BerthError } from '../../common/errors.ts';

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline }
  | { kind: 'if'; branches: { cond: Pipeline; body: Node[] }[]; otherwise: Node[] }
  | { kind: 'range'; pipe: Pipeline; body: Node[]; otherwise: Node[]; keyVar?: string; valueVar?: string }
  | { kind: 'with'; pipe: Pipeline; body: Node[]; otherwise: Node[] };

type Operand =
  | { kind: 'field'; base: 'dot' | { variable: string }; path: string[] }
  | { kind: 'literal'; value: unknown }
  | { kind: 'func'; name: string }
  | { kind: 'sub'; pipe: Pipeline };

interface Command {
  args: Operand[];
}
interface Pipeline {
  decl?: string[];
  commands: Command[];
}

export class TemplateError extends BerthError {
  constructor(message: string) {
    super('BERTH_CLI_TEMPLATE', message, { status: 400 });
  }
}

const NO_VALUE = Symbol('no value');

// ---------- lexing actions ----------

interface RawPiece {
  text?: string;
  action?: string;
}

function splitActions(src: string): RawPiece[] {
  const pieces: RawPiece[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      pieces.push({ text: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let start = open + 2;
    if (src[start] === '-' && /\s/.test(src[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    if (text) pieces.push({ text });
    const close = findClose(src, start);
    if (close < 0) throw new TemplateError(`template: unclosed action at offset ${open}: ${JSON.stringify(src.slice(open, open + 20))}`);
    let end = close;
    let trimAfter = false;
    if (src[close - 1] === '-' && /\s/.test(src[close - 2] ?? '')) {
      end = close - 1;
      trimAfter = true;
    }
    pieces.push({ action: src.slice(start, end).trim() });
    i = close + 2;
    if (trimAfter) while (i < src.length && /\s/.test(src[i]!)) i++;
  }
  return pieces;
}

/** `}}` outside string literals. */
function findClose(src: string, from: number): number {
  let q: string | undefined;
  for (let i = from; i < src.length - 1; i++) {
    const c = src[i]!;
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = undefined;
    } else if (c === '"' || c === '`' || c === "'") q = c;
    else if (c === '}' && src[i + 1] === '}') return i;
  }
  return -1;
}

type Token = { t: 'field'; v: string } | { t: 'var'; v: string } | { t: 'str'; v: string } | { t: 'num'; v: number } | { t: 'ident'; v: string } | { t: 'punct'; v: string };

function tokenize(action: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < action.length) {
    const c = action[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < action.length && action[j] !== '"') j += action[j] === '\\' ? 2 : 1;
      if (j >= action.length) throw new TemplateError(`template: unterminated string in {{${action}}}`);
      tokens.push({ t: 'str', v: JSON.parse(action.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === '`') {
      const j = action.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError(`template: unterminated raw string in {{${action}}}`);
      tokens.push({ t: 'str', v: action.slice(i + 1, j) });
      i = j + 1;
    } else if (c === "'") {
      const j = action.indexOf("'", i + 1);
      if (j < 0) throw new TemplateError(`template: unterminated character constant in {{${action}}}`);
      tokens.push({ t: 'num', v: action.slice(i + 1, j).codePointAt(0) ?? 0 });
      i = j + 1;
    } else if (c === '(' || c === ')' || c === '|' || c === ',') {
      tokens.push({ t: 'punct', v: c });
      i++;
    } else if (c === ':' && action[i + 1] === '=') {
      tokens.push({ t: 'punct', v: ':=' });
      i += 2;
    } else if (c === '=') {
      tokens.push({ t: 'punct', v: '=' });
      i++;
    } else if (c === '.' || c === '$') {
      const m = /^(\$[A-Za-z0-9_]*)?((?:\.[A-Za-z0-9_]+)+|\.)?/.exec(action.slice(i))!;
      const whole = m[0];
      if (c === '$') tokens.push({ t: 'var', v: whole });
      else tokens.push({ t: 'field', v: whole });
      i += whole.length || 1;
    } else if (/[-+\d]/.test(c)) {
      const m = /^[-+]?(\d+(\.\d+)?([eE][-+]?\d+)?|0x[0-9a-fA-F]+)/.exec(action.slice(i));
      if (!m) throw new TemplateError(`template: bad number in {{${action}}}`);
      tokens.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(action.slice(i))!;
      tokens.push({ t: 'ident', v: m[0] });
      i += m[0].length;
    } else {
      throw new TemplateError(`template: unexpected "${c}" in {{${action}}}`);
    }
  }
  return tokens;
}

function parsePipeline(tokens: Token[], pos: { i: number }, action: string, stopAtParen = false): Pipeline {
  const pipe: Pipeline = { commands: [] };
  // Variable declaration: $x := … or $i, $e := …
  const save = pos.i;
  const vars: string[] = [];
  while (tokens[pos.i]?.t === 'var') {
    vars.push(String(tokens[pos.i]!.v));
    pos.i++;
    if (tokens[pos.i]?.t === 'punct' && tokens[pos.i]!.v === ',') {
      pos.i++;
      continue;
    }
    break;
  }
  if (vars.length && tokens[pos.i]?.t === 'punct' && (tokens[pos.i]!.v === ':=' || tokens[pos.i]!.v === '=')) {
    pos.i++;
    pipe.decl = vars;
  } else pos.i = save;

  let cmd: Command = { args: [] };
  while (pos.i < tokens.length) {
    const tok = tokens[pos.i]!;
    if (tok.t === 'punct' && tok.v === ')') {
      if (!stopAtParen) throw new TemplateError(`template: unexpected ")" in {{${action}}}`);
      break;
    }
    pos.i++;
    if (tok.t === 'punct' && tok.v === '|') {
      if (!cmd.args.length) throw new TemplateError(`template: missing command before "|" in {{${action}}}`);
      pipe.commands.push(cmd);
      cmd = { args: [] };
      continue;
    }
    if (tok.t === 'punct' && tok.v === '(') {
      const sub = parsePipeline(tokens, pos, action, true);
      if (tokens[pos.i]?.v !== ')') throw new TemplateError(`template: unclosed "(" in {{${action}}}`);
      pos.i++;
      // (pipeline).Field
      cmd.args.push({ kind: 'sub', pipe: sub });
      continue;
    }
    cmd.args.push(operand(tok, action));
  }
  if (cmd.args.length) pipe.commands.push(cmd);
  if (!pipe.commands.length) throw new TemplateError(`template: missing value in {{${action}}}`);
  return pipe;
}

function operand(tok: Token, action: string): Operand {
  switch (tok.t) {
    case 'field':
      return { kind: 'field', base: 'dot', path: tok.v === '.' ? [] : tok.v.slice(1).split('.') };
    case 'var': {
      const m = /^(\$[A-Za-z0-9_]*)(.*)$/.exec(tok.v)!;
      return { kind: 'field', base: { variable: m[1]! }, path: m[2] ? m[2].slice(1).split('.') : [] };
    }
    case 'str':
      return { kind: 'literal', value: tok.v };
    case 'num':
      return { kind: 'literal', value: tok.v };
    case 'ident':
      if (tok.v === 'true' || tok.v === 'false') return { kind: 'literal', value: tok.v === 'true' };
      if (tok.v === 'nil') return { kind: 'literal', value: null };
      if (!(tok.v in FUNCS)) throw new TemplateError(`template: function "${tok.v}" not defined`);
      return { kind: 'func', name: tok.v };
    default:
      throw new TemplateError(`template: unexpected "${tok.v}" in {{${action}}}`);
  }
}

function parse(src: string): Node[] {
  const pieces = splitActions(src);
  let idx = 0;
  const parseList = (terminators: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (idx < pieces.length) {
      const p = pieces[idx++]!;
      if (p.text !== undefined) {
        nodes.push({ kind: 'text', text: p.text });
        continue;
      }
      const action = p.action!;
      if (action.startsWith('/*')) continue; // comment
      const word = /^[a-z]+/.exec(action)?.[0] ?? '';
      if (word === 'end' || word === 'else') {
        if (!terminators.includes(word)) throw new TemplateError(`template: unexpected {{${word}}}`);
        return { nodes, end: action };
      }
      if (word === 'if' || word === 'range' || word === 'with') {
        const rest = action.slice(word.length);
        const tokens = tokenize(rest);
        const pipe = parsePipeline(tokens, { i: 0 }, action);
        const body = parseList(['end', 'else']);
        let otherwise: Node[] = [];
        if (word === 'if') {
          const node: Node = { kind: 'if', branches: [{ cond: pipe, body: body.nodes }], otherwise: [] };
          let end = body.end;
          while (end !== 'end') {
            const elseIf = /^else\s+if\s+(.*)$/.exec(end);
            if (elseIf) {
              const cond = parsePipeline(tokenize(elseIf[1]!), { i: 0 }, end);
              const b = parseList(['end', 'else']);
              node.branches.push({ cond, body: b.nodes });
              end = b.end;
            } else {
              const b = parseList(['end']);
              node.otherwise = b.nodes;
              end = b.end;
            }
          }
          nodes.push(node);
          continue;
        }
        if (body.end !== 'end') otherwise = parseList(['end']).nodes;
        if (word === 'range') {
          const [keyVar, valueVar] = pipe.decl?.length === 2 ? pipe.decl : [undefined, pipe.decl?.[0]];
          nodes.push({ kind: 'range', pipe, body: body.nodes, otherwise, keyVar, valueVar });
        } else nodes.push({ kind: 'with', pipe, body: body.nodes, otherwise });
        continue;
      }
      nodes.push({ kind: 'action', pipe: parsePipeline(tokenize(action), { i: 0 }, action) });
    }
    if (terminators.length) throw new TemplateError('template: unexpected EOF (missing {{end}})');
    return { nodes, end: '' };
  };
  return parseList([]).nodes;
}

// ---------- evaluation ----------

interface Scope {
  dot: unknown;
  vars: Map<string, unknown>;
}

function truthy(v: unknown): boolean {
  if (v === NO_VALUE || v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

/**
 * `.name` of a value; a method (a function-valued field, as the docker CLI's
 * formatter contexts have: `.Label "k"`) is called with `args`.
 */
function fieldOf(value: unknown, name: string, args: unknown[] = []): unknown {
  if (value === NO_VALUE || value === undefined || value === null) {
    throw new TemplateError(`template: nil pointer evaluating .${name}`);
  }
  if (typeof value !== 'object' && typeof value !== 'function') {
    throw new TemplateError(`template: can't evaluate field ${name} in type ${goTypeName(value)}`);
  }
  const v = value instanceof Map ? value.get(name) : (value as Record<string, unknown>)[name];
  if (typeof v === 'function') {
    if (v.length !== args.length) throw new TemplateError(`template: wrong number of args for ${name}: want ${v.length} got ${args.length}`);
    return (v as (...a: unknown[]) => unknown).apply(value, args);
  }
  if (args.length) throw new TemplateError(`template: ${name} is not a method but has arguments`);
  if (value instanceof Map) return value.has(name) ? v : NO_VALUE;
  if (v === undefined) {
    if (name in (value as object)) return NO_VALUE;
    // A record: Go's map lookup answers <no value>; a struct would be an error, but
    // our values are JSON, where a missing key is the common case.
    return NO_VALUE;
  }
  return v;
}

function goTypeName(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

function evalPipeline(pipe: Pipeline, scope: Scope): unknown {
  let prev: unknown = undefined;
  let hasPrev = false;
  for (const cmd of pipe.commands) {
    prev = evalCommand(cmd, scope, hasPrev ? [prev] : []);
    hasPrev = true;
  }
  if (pipe.decl && pipe.decl.length === 1) scope.vars.set(pipe.decl[0]!, prev);
  return prev;
}

function evalOperand(op: Operand, scope: Scope): unknown {
  switch (op.kind) {
    case 'literal':
      return op.value;
    case 'sub':
      return evalPipeline(op.pipe, scope);
    case 'field':
      return evalField(op, scope, []);
    case 'func':
      return FUNCS[op.name]!([]);
  }
}

/** A field chain; its last element gets `args` (a method call, as Go's `.Label "k"` or `… | .Method`). */
function evalField(op: Extract<Operand, { kind: 'field' }>, scope: Scope, args: unknown[]): unknown {
  let v: unknown;
  if (op.base === 'dot') v = scope.dot;
  else {
    if (!scope.vars.has(op.base.variable)) throw new TemplateError(`template: undefined variable "${op.base.variable}"`);
    v = scope.vars.get(op.base.variable);
  }
  if (!op.path.length && args.length) throw new TemplateError("template: can't give arguments to a non-function value");
  op.path.forEach((name, i) => (v = fieldOf(v, name, i === op.path.length - 1 ? args : [])));
  return v;
}

function evalCommand(cmd: Command, scope: Scope, piped: unknown[]): unknown {
  const [first, ...rest] = cmd.args;
  if (first!.kind === 'func') {
    const args = rest.map((a) => evalOperand(a, scope)).concat(piped);
    return FUNCS[first!.name]!(args);
  }
  if (first!.kind === 'field' && (rest.length || piped.length)) {
    return evalField(first!, scope, rest.map((a) => evalOperand(a, scope)).concat(piped));
  }
  if (rest.length || piped.length) {
    throw new TemplateError('template: can\'t give arguments to a non-function value');
  }
  return evalOperand(first!, scope);
}

function iterate(value: unknown): [unknown, unknown][] {
  if (value === NO_VALUE || value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map((v, i) => [i, v]);
  if (value instanceof Map) return [...value.entries()].sort(([a], [b]) => String(a).localeCompare(String(b)));
  if (typeof value === 'object') return Object.keys(value as object).sort().map((k) => [k, (value as Record<string, unknown>)[k]]);
  if (typeof value === 'number') return Array.from({ length: value }, (_, i) => [i, i]);
  throw new TemplateError(`template: range can't iterate over ${formatValue(value)}`);
}

function execNodes(nodes: Node[], scope: Scope, out: string[]): void {
  for (const node of nodes) {
    switch (node.kind) {
      case 'text':
        out.push(node.text);
        break;
      case 'action': {
        const v = evalPipeline(node.pipe, scope);
        if (!node.pipe.decl) out.push(formatValue(v));
        break;
      }
      case 'if': {
        const branch = node.branches.find((b) => truthy(evalPipeline(b.cond, scope)));
        execNodes(branch ? branch.body : node.otherwise, scope, out);
        break;
      }
      case 'with': {
        const v = evalPipeline(node.pipe, scope);
        if (truthy(v)) execNodes(node.body, { dot: v, vars: scope.vars }, out);
        else execNodes(node.otherwise, scope, out);
        break;
      }
      case 'range': {
        const items = iterate(evalPipeline({ commands: node.pipe.commands }, scope));
        if (!items.length) {
          execNodes(node.otherwise, scope, out);
          break;
        }
        for (const [k, v] of items) {
          const vars = new Map(scope.vars);
          if (node.keyVar) vars.set(node.keyVar, k);
          if (node.valueVar) vars.set(node.valueVar, v);
          execNodes(node.body, { dot: v, vars }, out);
        }
        break;
      }
    }
  }
}

/** Go's %v. */
export function formatValue(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(' ')}]`;
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Map) return `map[${[...v.entries()].map(([k, x]) => `${k}:${formatValue(x)}`).join(' ')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v as object).sort();
    return `map[${keys.map((k) => `${k}:${formatValue((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  }
  return String(v);
}

/** Go's encoding/json output (HTML-safe escapes, as `{{json .}}` gives). */
export function goJson(v: unknown): string {
  return (JSON.stringify(v === NO_VALUE || v === undefined ? null : v) ?? 'null').replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : formatValue(v);
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError('template: incompatible types for comparison');
}

/** printf with Go's common verbs: %s %d %v %q %f %x %t %%, flags - 0 and width/precision. */
export function goSprintf(format: string, args: unknown[]): string {
  let argIndex = 0;
  return format.replace(/%([-+ 0#]*)(\d+)?(?:\.(\d+))?([sdvqfxXtceg%])/g, (whole, flags: string, width?: string, prec?: string, verb?: string) => {
    if (verb === '%') return '%';
    if (argIndex >= args.length) return `%!${verb}(MISSING)`;
    const arg = args[argIndex++];
    let s: string;
    switch (verb) {
      case 'd':
        s = typeof arg === 'number' ? String(Math.trunc(arg)) : `%!d(${goTypeName(arg)}=${str(arg)})`;
        break;
      case 'f':
      case 'e':
      case 'g':
        s = typeof arg === 'number' ? (verb === 'f' ? arg.toFixed(prec === undefined ? 6 : Number(prec)) : verb === 'e' ? arg.toExponential(prec === undefined ? 6 : Number(prec)) : String(arg)) : `%!${verb}(${str(arg)})`;
        break;
      case 'q':
        s = JSON.stringify(str(arg));
        break;
      case 'x':
      case 'X':
        s = typeof arg === 'number' ? arg.toString(16) : Buffer.from(str(arg)).toString('hex');
        if (verb === 'X') s = s.toUpperCase();
        break;
      case 'c':
        s = typeof arg === 'number' ? String.fromCodePoint(arg) : str(arg);
        break;
      default:
        s = str(arg);
        if (verb === 's' && prec !== undefined) s = s.slice(0, Number(prec));
    }
    if (width !== undefined && s.length < Number(width)) {
      const pad = (flags.includes('0') && !flags.includes('-') && verb !== 's' ? '0' : ' ').repeat(Number(width) - s.length);
      s = flags.includes('-') ? s + pad : pad + s;
    }
    void whole;
    return s;
  });
}

const FUNCS: Record<string, (args: unknown[]) => unknown> = {
  json: ([v]) => goJson(v),
  join: ([list, sep]) => {
    if (!Array.isArray(list)) return list === NO_VALUE || list == null ? '' : str(list);
    return list.map(str).join(str(sep ?? ''));
  },
  split: ([s, sep]) => str(s).split(str(sep)),
  index: ([coll, ...keys]) => {
    let v = coll;
    for (const k of keys) {
      if (v === NO_VALUE || v === null || v === undefined) throw new TemplateError('template: index of untyped nil');
      if (Array.isArray(v)) {
        const i = Number(k);
        if (!Number.isInteger(i) || i < 0 || i >= v.length) throw new TemplateError(`template: error calling index: index out of range: ${str(k)}`);
        v = v[i];
      } else if (v instanceof Map) v = v.has(k) ? v.get(k) : NO_VALUE;
      else if (typeof v === 'object') {
        const rec = v as Record<string, unknown>;
        v = Object.prototype.hasOwnProperty.call(rec, str(k)) ? rec[str(k)] : NO_VALUE;
      } else throw new TemplateError(`template: can't index item of type ${goTypeName(v)}`);
    }
    return v;
  },
  upper: ([s]) => str(s).toUpperCase(),
  lower: ([s]) => str(s).toLowerCase(),
  title: ([s]) => str(s).replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, pre: string, c: string) => pre + c.toUpperCase()),
  pad: ([s, left, right]) => ' '.repeat(Number(left ?? 0)) + str(s) + ' '.repeat(Number(right ?? 0)),
  truncate: ([s, n]) => {
    const chars = [...str(s)];
    return chars.length > Number(n) ? chars.slice(0, Number(n)).join('') : str(s);
  },
  len: ([v]) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (v instanceof Map) return v.size;
    if (v && typeof v === 'object') return Object.keys(v).length;
    throw new TemplateError(`template: error calling len: len of type ${goTypeName(v)}`);
  },
  printf: ([format, ...args]) => goSprintf(str(format), args),
  print: (args) => args.map(str).join(args.every((a) => typeof a !== 'string') ? ' ' : ''),
  println: (args) => args.map(str).join(' ') + '\n',
  eq: ([a, ...bs]) => bs.some((b) => a === b),
  ne: ([a, b]) => a !== b,
  lt: ([a, b]) => compare(a, b) < 0,
  le: ([a, b]) => compare(a, b) <= 0,
  gt: ([a, b]) => compare(a, b) > 0,
  ge: ([a, b]) => compare(a, b) >= 0,
  and: (args) => {
    for (const a of args) if (!truthy(a)) return a;
    return args[args.length - 1];
  },
  or: (args) => {
    for (const a of args) if (truthy(a)) return a;
    return args[args.length - 1];
  },
  not: ([a]) => !truthy(a),
};

export interface Template {
  execute(data: unknown): string;
}

/** Parse once, execute per item. Throws TemplateError with Go's wording on bad templates. */
export function parseTemplate(src: string): Template {
  const nodes = parse(src);
  return {
    execute(data: unknown): string {
      const out: string[] = [];
      execNodes(nodes, { dot: data, vars: new Map([['$', data]]) }, out);
      return out.join('');
    },
  };
}
